"""Redaction of credentials in a session's user-supplied configuration maps.

GetSession's ``EngineConfiguration`` carries three maps whose keys and values the notebook's user
chooses: ``SparkProperties``, ``AdditionalConfigs`` and each ``Classifications[].Properties``.
They routinely hold credentials (``spark.hadoop.fs.s3a.secret.key``, a JDBC catalog's password,
an Azure account key, a Snowflake ``sfPassword``, an ``Authorization`` header, a URI with
``user:password@`` in it). The model redacts them when it normalises an answer, so nothing built
from the model - the API's responses, the SNS alerts, the logs - can carry them out.

Rules, all on the key (case-insensitive; a key is split into words on anything that is not a
letter or digit, and on camelCase humps, so ``keyStorePassword``, ``key_store_password`` and
``KEYSTORE.PASSWORD`` read alike):

* a *fragment* anywhere in a separator-delimited part of the key, or in two adjacent parts or
  words run together (``access.key``, ``ACCESS_KEY``, ``accessKey`` all give ``accesskey``):
  password, passwd, passphrase, passcode (Snowflake MFA), pwd, pgpass, secret, token, credential,
  signature, webhook (a Slack or Teams webhook URL carries its secret in the path), and the compound
  keys apikey, accesskey, privatekey, privkey, accountkey (Azure), encryptionkey (S3 SSE-C),
  signingkey, masterkey, sshkey, fernetkey, keyfile (secretkey is already secret);
* a whole *word* that would be ambiguous as a fragment: pass (not ``bypassMergeThreshold``),
  sas (not ``sasl``), sig, jwt, bearer, pat (a personal access token, ``GITHUB_PAT``; not
  ``path``), sk and ak (``fs.obs.sk``/``fs.obs.ak``, ``STRIPE_SK``). An access key *id* (ak) is
  no secret by itself, but it is half of a credential and names the account, and it is already
  hidden as ``fs.s3a.access.key`` and ``fs.oss.accessKeyId``: ak is redacted alike;
* a *last word* auth or authorization (``Authorization``, ``basicAuth``), but not in the middle of
  a key, where it names a mechanism (``fs.azure.account.auth.type``, ``google.cloud.auth.type``);
  ``spark.authenticate`` is a boolean switch and is kept (``spark.authenticate.secret`` is not);
* except a key whose last word is provider, providers, class or type: it names the
  *implementation* that fetches a credential (``spark.hadoop.fs.s3a.aws.credentials.provider``,
  ``fs.azure.sas.token.provider.type``), a class name seen in nearly every S3A setup and no
  secret, so it is kept.

Over-redaction is preferred to a leak, so some harmless values are hidden too (accepted):
``spark.io.encryption.keySizeBits``, ``spark.security.credentials.*.enabled``,
``fs.s3a.delegation.token.binding`` (a class name), ``hadoop.security.credential.provider.path``.

Every value, whatever its key, also loses credentials embedded in it: the userinfo of a URI
(``postgresql://user:pw@host/db`` -> ``postgresql://***redacted***@host/db``, the host, path and
query kept; a password holding an '@', or a raw '/', '?' or '#' (an AWS secret key pasted
unescaped), goes whole; a ``jdbc:sqlserver://host:port;`` list has
none, its ``;name=`` pairs are read as below), an Oracle thin ``user/password@``, and the
value of any ``name=value`` pair whose name is a secret by the rules above (a JDBC ``;password=``,
a SAS URL's ``&sig=``, ``-Dx.trustStorePassword=`` in ``extraJavaOptions``, a JAAS
``password="..."``), found anywhere in the value, also inside another pair's value
(``opts=-Dpassword=x``). Such a value runs:

* if it opens with a quote, to the matching quote not escaped by a backslash (JAAS
  ``password="Tr0ub4dor&3 horse";``), if with '{' to its '}' (ODBC ``PWD={a;b}``), and when the
  quote is never closed, to the end of the value;
* then, in a ';'-separated list (a connection string: ``Server=x;Password=a b c;Database=y``),
  on to the next ';' that ends the value or starts another pair (spaces, '&' and ',' included);
  elsewhere (a URL query, Java options, a JAAS config, ``user=a,password=b c``) on to the
  separators ('&', ',', blanks) before the next ``name=``, or a ';' that ends the value, or the
  end of the value. A pair is in a ';' list when a ';' comes before its name (blanks between
  allowed), not when '&', ',', '?' or a blank does; the value's first pair and a pair inside
  another pair's value are when the value holds a ';' anywhere.

So the rest of a value is hidden rather than a secret cut short (accepted): ``-Dx.password=s
-Xmx4g`` loses ``-Xmx4g`` too, a pair after ``Password=p;`` whose name mixes blanks and marks
(``Pool-Size Max=5``) goes with it, an unclosed quote hides the rest, and a ``password=`` in a
Hive partition path (``/password=x/``) hides the path after it. An unquoted secret that itself
holds a separator followed by ``name=`` (``Password=a;b=c``, ``password=a b=c``) is cut there;
its format cannot tell that apart from the next pair either.

Not covered (accepted): a credential in a value under an innocuous key with no recognisable
structure (a JSON blob, ``Bearer ...`` under ``headers``, a ``ghp_...`` token or a Slack webhook
URL under ``spark.alerts.target``), a URI password holding a blank, and run-together upper-case
words that only match as a whole word (``DBPASS``; ``PGPASS`` is a fragment of its own).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping

REDACTED = "***redacted***"

_SECRET_FRAGMENTS = (
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "pwd",
    "pgpass",
    "secret",
    "token",
    "credential",
    "signature",
    "webhook",
    "apikey",
    "accesskey",
    "privatekey",
    "privkey",
    "accountkey",
    "encryptionkey",
    "signingkey",
    "masterkey",
    "sshkey",
    "fernetkey",
    "keyfile",
)
_SECRET_WORDS = frozenset({"pass", "sas", "sig", "jwt", "bearer", "pat", "sk", "ak"})
_SECRET_LAST_WORDS = frozenset({"auth", "authorization"})
_DESCRIPTOR_LAST_WORDS = frozenset({"provider", "providers", "class", "type"})

_SEPARATORS = re.compile(r"[^a-z0-9]+")
_CAMEL_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _words(key: str) -> tuple[list[str], list[str]]:
    """The key's separator-delimited parts and its camelCase-split words, all lower case."""
    parts = [part for part in _SEPARATORS.split(key.lower()) if part]
    words = [word.lower() for word in _CAMEL_WORDS.findall(key)]
    return parts, words


def _adjacent_runs(words: list[str]) -> list[str]:
    return [first + second for first, second in itertools.pairwise(words)]


def is_secret_key(key: str) -> bool:
    """Whether a configuration key looks like it holds a credential (see the module's rules)."""
    parts, words = _words(key)
    if not parts or not words:
        return False
    last = {parts[-1], words[-1]}
    if last & _DESCRIPTOR_LAST_WORDS:
        return False
    runs = parts + _adjacent_runs(parts) + _adjacent_runs(words)
    return (
        any(fragment in run for run in runs for fragment in _SECRET_FRAGMENTS)
        or not _SECRET_WORDS.isdisjoint(parts + words)
        or not _SECRET_LAST_WORDS.isdisjoint(last)
    )


_URI_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # First, ``user:password@host`` whose password may hold a raw '/', '?' or '#' (invalid in a
    # URI, yet common: an AWS secret key pasted as is): a user, a ':', then anything up to the
    # last '@' that a host follows (a name or [v6], an optional port, then the end or '/', '?',
    # '#', ';'). Bounded (user and password 256 characters each, a host name 253) so the scan
    # stays linear; a longer password with a raw '/' is left to the next rule, which stops at the
    # '/'. Over-redacts ``https://host:8080/a@b.com/`` to ``https://***redacted***@b.com/``.
    (
        re.compile(
            r"://(?![^:;@/?#\s]*(?::\d+)?;[^=;@/?#\s]+=)[^\s:/?#@;]{0,256}:\S{0,256}@"
            r"(?=(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?(?:[/?#;\s]|$))"
        ),
        f"://{REDACTED}@",
    ),
    # Greedy up to the last '@' before the host, so a password with an '@' in it goes whole; not
    # where host[:port] is followed by ';name=' (jdbc:sqlserver://db:1433;user=a@corp;password=..):
    # those are pairs, and masking up to an '@' in one would let the rest of a password out.
    (re.compile(r"://(?![^:;@/?#\s]*(?::\d+)?;[^=;@/?#\s]+=)[^/?#\s]+@"), f"://{REDACTED}@"),
    (re.compile(r"(jdbc:oracle:[a-z0-9]+:)[^@\s/]+/[^@\s]+@", re.IGNORECASE), rf"\g<1>{REDACTED}@"),
)

# A pair's name is a whole run of these (the lookbehind starts a name only where a run starts,
# which also keeps the scan linear); blanks around the '=' are allowed, as in JAAS and ADO.NET.
_NAME_CHAR = r"""[^=&;,#\s/:?"'{}]"""
_PAIR = re.compile(rf"(?<!{_NAME_CHAR})({_NAME_CHAR}+)[ \t]*=[ \t]*")
# A value opened by a quote runs to the matching unescaped quote ("a\"b", 'it''s' reads as two
# quoted runs); one opened by '{' (ODBC) to its '}' ('}}' escapes one); unclosed: to the end.
_QUOTED = re.compile(r"""(["'])(?:\\.?|(?!\1)[^\\])*\1?|\{(?:\}\}|[^}])*\}?""", re.DOTALL)
# Where a secret's value ends. In a ';' list (a connection string), at a ';' that ends the value or
# starts the next pair, whose name may be words with spaces between ("User Id="). Elsewhere (a URL
# query, Java options, a JAAS config), at the separators ('&', ',', blanks) before the next pair,
# or at a ';' that ends the value (JAAS). Nothing found: at the end of the value.
_SPACED_NAME = r"[A-Za-z]+(?: [A-Za-z]+)+"
_VALUE_END = {
    True: re.compile(rf";(?=\s*(?:(?:{_NAME_CHAR}+|{_SPACED_NAME})[ \t]*=|$))"),
    False: re.compile(rf"(?<![&,\s])[&,\s]+(?={_NAME_CHAR}+[ \t]*=)|;(?=\s*$)"),
}
_CLOSING = {'"': '"', "'": "'", "{": "}"}


def _in_semicolon_list(value: str, name_start: int, holds_semicolon: bool) -> bool:
    """Whether the pair whose name starts at ``name_start`` is one of a ';'-separated list.

    Told by the separator before the name: a ';' (blanks after it allowed) says yes; '&', ',', '?'
    or blanks say no; none (the value's first pair, a pair inside another's value) leaves it to
    whether the value holds a ';' at all.
    """
    before = name_start
    while before > 0 and value[before - 1].isspace():
        before -= 1
    previous = value[before - 1] if before else ""
    if previous == ";":
        return True
    if before < name_start or previous in ("&", ",", "?"):
        return False
    return holds_semicolon


def _secret_end(value: str, start: int, connection_string: bool) -> int:
    """Where the value of a secret pair that starts at ``start`` ends (see ``_VALUE_END``)."""
    quoted = _QUOTED.match(value, start)
    end = _VALUE_END[connection_string].search(value, quoted.end() if quoted else start)
    return end.start() if end else len(value)


def _mask(secret: str) -> str:
    """``REDACTED`` in the secret's own quotes, if it had any."""
    closing = _CLOSING.get(secret[:1])
    return f"{secret[0]}{REDACTED}{closing}" if closing else REDACTED


def _redact_pairs(value: str) -> str:
    """``value`` with the value of every ``name=value`` pair whose name is a secret key redacted."""
    holds_semicolon = ";" in value
    pieces: list[str] = []
    done = 0
    while pair := _PAIR.search(value, done):
        start = pair.end()
        pieces.append(value[done:start])
        done = start
        if is_secret_key(pair.group(1)):
            done = _secret_end(value, start, _in_semicolon_list(value, pair.start(), holds_semicolon))
            pieces.append(_mask(value[start:done]))
    pieces.append(value[done:])
    return "".join(pieces)


def redact_value(value: str) -> str:
    """``value`` with the credentials embedded in it (URI userinfo, ``secret=...`` pairs) redacted."""
    for pattern, replacement in _URI_RULES:
        value = pattern.sub(replacement, value)
    return _redact_pairs(value)


def redact_map(values: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``values``: a secret key's value replaced by ``REDACTED``, every other value cleaned."""
    return {key: REDACTED if is_secret_key(key) else redact_value(value) for key, value in values.items()}
