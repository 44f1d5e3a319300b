"""Credentials in a session's Spark properties, additional configs and classifications are redacted."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from session_monitor.model import session_from_get
from session_monitor.redaction import REDACTED, is_secret_key, redact_map, redact_value
from tests.helpers import get_session_response

JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required"

SECRET_KEYS = [
    "spark.hadoop.fs.s3a.secret.key",
    "spark.hadoop.fs.s3a.access.key",
    "spark.hadoop.fs.s3a.session.token",
    "spark.hadoop.fs.s3a.bucket.raw-data.secret.key",
    "spark.hadoop.fs.s3a.server-side-encryption.key",
    "spark.hadoop.fs.s3a.encryption.key",
    "spark.sql.catalog.pg.password",
    "spark.hadoop.javax.jdo.option.ConnectionPassword",
    "spark.hadoop.fs.azure.account.key.mystorage.dfs.core.windows.net",
    "spark.hadoop.fs.azure.sas.container.mystorage.blob.core.windows.net",
    "spark.hadoop.fs.azure.account.oauth2.client.secret",
    "spark.hadoop.google.cloud.auth.service.account.json.keyfile",
    "spark.hadoop.fs.gs.auth.service.account.private.key",
    "spark.ssl.keyStorePassword",
    "spark.ssl.trustStorePassword",
    "spark.ssl.keyPassword",
    "spark.authenticate.secret",
    "spark.kubernetes.authenticate.submission.oauthToken",
    "spark.datasource.snowflake.sfPassword",
    "spark.datasource.snowflake.sfpassword",
    "apiToken",
    "api_key",
    "x-api-key",
    "Authorization",
    "proxy-authorization",
    "basicAuth",
    "private_key",
    "privateKey",
    "PRIVATE_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "db.pass",
    "db.passwd",
    "db_pwd",
    "passphrase",
    "client.credentials",
    "request.signature",
    "jwt",
    "bearer",
    # Found by review: passed through unchanged before.
    "spark.executorEnv.GITHUB_PAT",
    "spark.yarn.appMasterEnv.GITHUB_PAT",
    "PGPASS",
    "SLACK_WEBHOOK_URL",
    "teams.webhook",
    "STRIPE_SK",
    "spark.hadoop.fs.obs.sk",
    "spark.hadoop.fs.obs.ak",  # an access key id: credential material, redacted like fs.s3a.access.key
    "spark.hadoop.fs.oss.accessKeyId",
    "spark.hadoop.fs.oss.accessKeySecret",
    "SNOWFLAKE_PASSCODE",
    "spark.datasource.snowflake.passcode",
    "SSH_KEY",
    "sshKey",
    "FERNET_KEY",
    "PRIVKEY",
    "tls.privkey.pem",
]

ORDINARY = {
    "spark.sql.shuffle.partitions": "64",
    "spark.executor.cores": "4",
    "spark.executor.memory": "8g",
    "spark.hadoop.fs.s3a.endpoint": "s3.us-east-1.amazonaws.com",
    # A provider class, not a credential: kept (see the module docstring).
    "spark.hadoop.fs.s3a.aws.credentials.provider": "com.amazonaws.auth.DefaultAWSCredentialsProviderChain",
    "spark.hadoop.fs.s3a.assumed.role.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    "spark.hadoop.fs.azure.sas.token.provider.type": "com.example.SasTokenProvider",
    "NotebookFileURI": "s3://bucket/notebook.ipynb",
    "spark.sql.catalog.x.warehouse": "s3://bucket/warehouse/",
    "spark.sql.catalog.x.uri": "thrift://metastore.internal:9083",
    "spark.sql.catalog.pg.user": "etl_reader",
    "spark.sql.catalog.pg.url": "jdbc:postgresql://db.internal:5432/sales",
    "spark.authenticate": "true",
    "spark.shuffle.sort.bypassMergeThreshold": "200",
    "spark.hadoop.hive.metastore.sasl.enabled": "false",
    "spark.hadoop.fs.azure.account.auth.type": "OAuth",
    "spark.hadoop.google.cloud.auth.service.account.enable": "true",
    "spark.hadoop.fs.azure.account.oauth2.client.id": "6f2b1c2e-0000-4000-8000-000000000000",
    "spark.kerberos.access.hadoopFileSystems": "hdfs://nn1:8020",
    "spark.driver.extraJavaOptions": "-Dlog4j.configuration=file:log4j.properties -XX:+UseG1GC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.hadoop.fs.s3a.server-side-encryption-algorithm": "SSE-KMS",
    "keyspace": "analytics",
    # Common keys next to the words and fragments added for the review (pat, sk, ak, ...).
    "spark.task.cpus": "1",
    "spark.task.maxFailures": "4",
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.driver.extraClassPath": "/opt/jars/*",
    "spark.executor.extraLibraryPath": "/opt/native",
    "spark.sql.hive.metastore.jars.path": "s3://bucket/jars/",
    "spark.sql.warehouse.dir": "s3://bucket/warehouse/",
    "spark.executorEnv.PYTHONPATH": "/opt/python",
    "spark.executorEnv.JAVA_HOME": "/usr/lib/jvm/java-17",
    "spark.hadoop.fs.obs.endpoint": "obs.cn-north-4.myhuaweicloud.com",
    "spark.hadoop.fs.obs.impl": "org.apache.hadoop.fs.obs.OBSFileSystem",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.kafka.sasl.mechanism": "PLAIN",
}

URIS = [
    (
        "postgresql://etl:s3cr3t@db.internal:5432/sales?sslmode=require",
        "postgresql://***redacted***@db.internal:5432/sales?sslmode=require",
    ),
    ("jdbc:postgresql://etl:s3cr3t@db.internal/sales", "jdbc:postgresql://***redacted***@db.internal/sales"),
    ("thrift://hive:s3cr3t@metastore:9083", "thrift://***redacted***@metastore:9083"),
    ("https://ghp_s3cr3t@github.com/org/repo.git", "https://***redacted***@github.com/org/repo.git"),
    (
        "jdbc:mysql://db/sales?user=etl&password=s3cr3t&useSSL=true",
        "jdbc:mysql://db/sales?user=etl&password=***redacted***&useSSL=true",
    ),
    (
        "jdbc:sqlserver://db:1433;databaseName=sales;user=etl;password=s3cr3t;encrypt=true",
        "jdbc:sqlserver://db:1433;databaseName=sales;user=etl;password=***redacted***;encrypt=true",
    ),
    ("jdbc:oracle:thin:etl/s3cr3t@//db:1521/sales", "jdbc:oracle:thin:***redacted***@//db:1521/sales"),
    (
        "https://acct.blob.core.windows.net/c?sv=2022-11-02&se=2026-12-01&sig=s3cr3t%3D",
        "https://acct.blob.core.windows.net/c?sv=2022-11-02&se=2026-12-01&sig=***redacted***",
    ),
    (
        "-Dlog4j.configuration=x.properties -Djavax.net.ssl.trustStorePassword=s3cr3t",
        "-Dlog4j.configuration=x.properties -Djavax.net.ssl.trustStorePassword=***redacted***",
    ),
    # Found by review: a value cut at a blank, '&', ';' or ',', or at a quote, leaked its rest.
    (f'{JAAS} username="u" password="s3cr3t&3 horse";', f'{JAAS} username="u" password="***redacted***";'),
    (f"{JAAS} username='u' password='s3cr3t&3 \"horse\"';", f"{JAAS} username='u' password='***redacted***';"),
    (f'{JAAS} username="u" password="s3cr3t \\"q\\" ; x";', f'{JAAS} username="u" password="***redacted***";'),
    (f'{JAAS} password = "s3cr3t horse" username="u";', f'{JAAS} password = "***redacted***" username="u";'),
    # After the closing quote, on to where an unquoted value would end: `"a"b c` leaks no b c.
    ('Server=x;Password="s3cr3t"b c;Database=y', 'Server=x;Password="***redacted***";Database=y'),
    # A ';' in a password after a blank: no ';' list. As the value's first pair it may be: the rest goes.
    ("-Da=1 -Dx.password=s3cr3t;a -Dy=1", "-Da=1 -Dx.password=***redacted*** -Dy=1"),
    ("-Dx.password=s3cr3t;a -Dy=1", "-Dx.password=***redacted***"),
    ("user=etl password=s3cr3t;a role=reader", "user=etl password=***redacted*** role=reader"),
    (
        "Server=x;Password=s3cr3t;User Id=etl;Application Name=a b",
        "Server=x;Password=***redacted***;User Id=etl;Application Name=a b",
    ),
    ('-Dx.password="s3cr3t horse" -Dy=1', '-Dx.password="***redacted***" -Dy=1'),
    ('password="s3cr3t horse', 'password="***redacted***"'),  # never closed: to the end
    ("Server=x;Password=mssql s3cr3t x;Database=y", "Server=x;Password=***redacted***;Database=y"),
    (
        "Server=x; User Id=etl; Password=s3cr3t a=b&c; Initial Catalog=sales",
        "Server=x; User Id=etl; Password=***redacted***; Initial Catalog=sales",
    ),
    ("Server=x;Password=s3cr3t;", "Server=x;Password=***redacted***;"),
    (
        "Driver={ODBC Driver 18};Server=x;PWD={s3cr3t;a}}b};Encrypt=yes",
        "Driver={ODBC Driver 18};Server=x;PWD={***redacted***};Encrypt=yes",
    ),
    ("user=etl,password=s3cr3t horse", "user=etl,password=***redacted***"),
    ("user=etl, password=s3cr3t horse, role=reader", "user=etl, password=***redacted***, role=reader"),
    ("user=etl,password=s3cr3t;x", "user=etl,password=***redacted***"),
    (
        "jdbc:mysql://db/sales?password=s3cr3t#1 x&useSSL=true",
        "jdbc:mysql://db/sales?password=***redacted***&useSSL=true",
    ),
    (
        "-Djavax.net.ssl.keyStorePassword=s3cr3t horse -Dfoo=bar",
        "-Djavax.net.ssl.keyStorePassword=***redacted*** -Dfoo=bar",
    ),
    ("opts=-Dpassword=s3cr3t", "opts=-Dpassword=***redacted***"),  # a pair inside another pair's value
    ("postgresql://etl:s3cr3t@x@db.internal/sales", "postgresql://***redacted***@db.internal/sales"),
    (
        "jdbc:sqlserver://db:1433;user=etl@corp;password=s3cr3t@x;encrypt=true",
        "jdbc:sqlserver://db:1433;user=etl@corp;password=***redacted***;encrypt=true",
    ),
    ("mongodb://etl:1234;s3cr3t@db.internal/sales", "mongodb://***redacted***@db.internal/sales"),
    (
        "https://obs.example.com/b?ak=AKEXAMPLE&sk=s3cr3t&x=1",
        "https://obs.example.com/b?ak=***redacted***&sk=***redacted***&x=1",
    ),
]
UNCHANGED_VALUES = [
    "s3://bucket/athena/sessions/",
    "thrift://metastore:9083",
    "jdbc:oracle:thin:@db:1521:orcl",
    "s3://bucket/token-store/dt=2026-11-26/",
    "user@example.com",
    "64",
    "",
    "Server=db; User Id=etl; Initial Catalog=sales; Encrypt=true;",
    "user=etl,role=reader",
    (
        'com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="/etc/etl.keytab" '
        'principal="etl@EXAMPLE.COM";'
    ),
    "-Dlog4j.configuration=file:log4j.properties -XX:+UseG1GC -Dpath=/a;/b",
]


def _json_of(raw: dict) -> str:
    return json.dumps(session_from_get(raw, 0.35).to_dict())


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_secret_key_has_its_value_redacted(key):
    assert is_secret_key(key)
    assert redact_map({key: "s3cr3t-value"}) == {key: REDACTED}


@pytest.mark.parametrize("key", sorted(ORDINARY))
def test_an_ordinary_key_keeps_its_value(key):
    assert not is_secret_key(key)
    assert redact_map({key: ORDINARY[key]}) == {key: ORDINARY[key]}


@pytest.mark.parametrize(("value", "expected"), URIS)
def test_credentials_inside_a_value_are_redacted_and_the_rest_kept(value, expected):
    assert redact_value(value) == expected
    assert redact_map({"spark.sql.catalog.pg.url": value}) == {"spark.sql.catalog.pg.url": expected}
    assert "s3cr3t" not in redact_value(value)


@pytest.mark.parametrize("value", UNCHANGED_VALUES)
def test_a_value_without_embedded_credentials_is_unchanged(value):
    assert redact_value(value) == value


REVIEW_SECRETS = {
    "spark.executorEnv.GITHUB_PAT": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "PGPASS": "db.internal:5432:sales:etl:Pg-Pa55w0rd",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "STRIPE_SK": "sk_live_51H8fakeFAKEfake",
    "spark.hadoop.fs.obs.sk": "obsSecretKeyEXAMPLE",
    "spark.hadoop.fs.obs.ak": "OBSACCESSKEYEXAMPLE",
    "SNOWFLAKE_PASSCODE": "492817",
    "SSH_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "FERNET_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
}


def test_the_reviews_keys_reach_the_models_json_without_their_values():
    raw = get_session_response()
    raw["EngineConfiguration"]["SparkProperties"].update(REVIEW_SECRETS)
    raw["EngineConfiguration"]["AdditionalConfigs"]["spark.kafka.sasl.jaas.config"] = (
        f'{JAAS} username="u" password="Tr0ub4dor&3 horse";'
    )
    raw["EngineConfiguration"]["AdditionalConfigs"]["spark.sql.catalog.ms.url"] = (
        "Server=x;Password=mssql SECRET x;Database=y"
    )
    text = _json_of(raw)
    for key, secret in REVIEW_SECRETS.items():
        assert key in text and secret not in text.replace("\\n", "\n")
    for leak in ("Tr0ub4dor", "3 horse", "mssql", "SECRET"):
        assert leak not in text
    assert "Database=y" in text and 'username=\\"u\\"' in text


def test_redact_map_keeps_every_key_and_leaves_its_input_alone():
    values = {"spark.hadoop.fs.s3a.secret.key": "wJalrXUtnFEMI", **ORDINARY}
    redacted = redact_map(values)
    assert list(redacted) == list(values)
    assert values["spark.hadoop.fs.s3a.secret.key"] == "wJalrXUtnFEMI"
    assert redacted["spark.hadoop.fs.s3a.secret.key"] == REDACTED


@pytest.mark.parametrize("key", ["", ".", "__", "密码", "🙂"])
def test_a_key_with_no_latin_word_is_not_secret(key):
    assert is_secret_key(key) is False


def test_a_secret_in_spark_properties_appears_nowhere_in_the_models_json():
    raw = get_session_response()
    raw["EngineConfiguration"]["SparkProperties"].update(
        {
            "spark.hadoop.fs.s3a.access.key": "AKIAIOSFODNN7EXAMPLE",
            "spark.hadoop.fs.s3a.secret.key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "spark.sql.catalog.pg.uri": "postgresql://etl:Pg-Pa55w0rd@db.internal/sales",
        }
    )
    text = _json_of(raw)
    for secret in ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "Pg-Pa55w0rd"):
        assert secret not in text
    assert "spark.hadoop.fs.s3a.secret.key" in text and "db.internal/sales" in text
    assert '"spark.sql.shuffle.partitions": "64"' in text


# Hypothesis: a key made of harmless words around a secret term, in any case and with any separator
# (or camelCase), never lets its value out. A term is its words; ``auth`` terms only as a key's last
# word, and no key ends in a descriptor word (provider, class, type), which names an implementation.
SECRET_TERMS = [
    ("secret",),
    ("password",),
    ("passwd",),
    ("pwd",),
    ("passphrase",),
    ("token",),
    ("credential",),
    ("credentials",),
    ("signature",),
    ("access", "key"),
    ("secret", "key"),
    ("private", "key"),
    ("api", "key"),
    ("account", "key"),
    ("session", "token"),
    ("key", "file"),
    ("encryption", "key"),
    ("connection", "password"),
    ("sf", "password"),
    ("key", "store", "password"),
    ("client", "secret"),
    ("auth", "token"),
    ("pass",),
    ("sas",),
    ("sig",),
    ("jwt",),
    ("bearer",),
]
LAST_TERMS = [("auth",), ("authorization",), ("basic", "auth"), ("proxy", "authorization")]
SEPARATORS = [".", "_", "-", ":", "/", " ", "__", ".-"]
plain_words = st.from_regex(r"[a-z]{1,8}", fullmatch=True).filter(
    lambda w: w not in {"provider", "providers", "class", "type"}
)


@st.composite
def secret_keys(draw) -> str:
    term = draw(st.sampled_from(SECRET_TERMS + LAST_TERMS))
    prefix = draw(st.lists(plain_words, max_size=4))
    suffix = [] if term in LAST_TERMS else draw(st.lists(plain_words, max_size=3))
    if draw(st.booleans()):  # camelCase: every word capitalised (the first one may not be)
        words = [w.capitalize() for w in prefix + list(term) + suffix]
        return (words[0].lower() if draw(st.booleans()) else words[0]) + "".join(words[1:])
    cased = ["".join(c.upper() if draw(st.booleans()) else c for c in w) for w in term]
    separator = draw(st.sampled_from(SEPARATORS))
    return separator.join(prefix + cased + suffix)


secret_values = st.text(alphabet="abcXYZ0189+/=-_", min_size=1, max_size=24).map(lambda v: f"v!{v}")


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.dictionaries(secret_keys(), secret_values, min_size=1, max_size=5),
    target=st.sampled_from(["SparkProperties", "AdditionalConfigs", "Classifications"]),
)
def test_no_value_under_a_secret_looking_key_reaches_the_models_json(secrets, target):
    raw = get_session_response()
    configuration = raw["EngineConfiguration"]
    if target == "Classifications":
        configuration["Classifications"].append({"Name": "spark-hive-site", "Properties": dict(secrets)})
    else:
        configuration[target].update(secrets)
    text = _json_of(raw)
    for key, value in secrets.items():
        assert value not in text, key
    assert '"spark.sql.shuffle.partitions": "64"' in text and '"spark.executor.cores": "4"' in text


@settings(max_examples=200, deadline=None)
@given(
    user=st.from_regex(r"[A-Za-z0-9._~-]{1,12}", fullmatch=True),
    password=st.from_regex(r"[A-Za-z0-9!$'()*+,;=._~-]{1,16}", fullmatch=True).map(lambda p: f"pw!{p}"),
    scheme=st.sampled_from(["postgresql", "jdbc:mysql", "thrift", "https", "mongodb+srv"]),
)
def test_the_userinfo_of_any_uri_is_redacted_and_the_rest_kept(user, password, scheme):
    redacted = redact_value(f"{scheme}://{user}:{password}@db.internal:5432/sales?ssl=true")
    assert redacted == f"{scheme}://{REDACTED}@db.internal:5432/sales?ssl=true"


@settings(max_examples=300, deadline=None)
@given(
    user=st.from_regex(r"[A-Za-z0-9._~-]{1,12}", fullmatch=True),
    # Raw '/', '?', '#' and '@' are invalid in a URI's userinfo, yet an AWS secret key pasted as
    # is holds '/' (and '+'): the password must still go whole, whatever follows it.
    password=st.from_regex(r"[A-Za-z0-9/+?#@!$=._~-]{1,40}", fullmatch=True).map(lambda p: f"9{p}/x"),
    scheme=st.sampled_from(["postgresql", "jdbc:postgresql", "thrift", "https", "mongodb+srv"]),
    rest=st.sampled_from(["db.internal:5432/sales?ssl=true", "db/x", "[fd00::1]:5432/db", "db.internal"]),
)
def test_a_uri_password_with_raw_slashes_is_redacted_whole(user, password, scheme, rest):
    redacted = redact_value(f"{scheme}://{user}:{password}@{rest}")
    assert redacted == f"{scheme}://{REDACTED}@{rest}"


def test_an_aws_secret_key_pasted_into_a_jdbc_url_does_not_leak():
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    redacted = redact_value(f"jdbc:postgresql://admin:{secret}@db.internal:5432/sales")
    assert redacted == f"jdbc:postgresql://{REDACTED}@db.internal:5432/sales"
    assert "K7MDENG" not in redacted


# Hypothesis: a secret of printable ASCII - blanks, '&', ';', ',', '=', '#', backslashes and quotes
# included - leaves no trace however it is embedded. It holds a digit and the text around it holds
# none (nor does REDACTED), so it cannot be found in the output by chance: if it is there, it was
# copied out of the input. Excluded only where the format itself ends the value: the delimiter
# (';' in a connection string) or, in a ',' list, the '=' that starts the next pair.
def printable_secrets(exclude: str = "") -> st.SearchStrategy[str]:
    characters = st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=exclude)
    return st.text(characters, min_size=4, max_size=24).filter(lambda v: any(c.isdigit() for c in v))


def _opens_a_quote(secret: str) -> bool:
    return secret.lstrip(" ")[:1] in ('"', "'", "{")


def _leading_blanks(secret: str) -> str:
    return secret[: len(secret) - len(secret.lstrip(" "))]


@settings(max_examples=300, deadline=None)
@given(secret=printable_secrets(), quote=st.sampled_from(['"', "'"]), escaped=st.booleans())
def test_a_quoted_secret_goes_whole_whatever_it_holds(secret, quote, escaped):
    assume(escaped or quote not in secret)  # the matching quote escaped, or not in the secret
    body = secret.replace("\\", "\\\\").replace(quote, "\\" + quote)
    jaas = f"{JAAS} username={quote}u{quote} password={quote}{body}{quote};"
    assert redact_value(jaas) == f"{JAAS} username={quote}u{quote} password={quote}{REDACTED}{quote};"
    java_options = f"-Dlog.level=info -Dx.password={quote}{body}{quote} -Dy=z"
    redacted = redact_value(java_options)
    assert secret not in redacted and body not in redacted
    assert redacted.startswith(f"-Dlog.level=info -Dx.password={quote}{REDACTED}{quote}")


@settings(max_examples=300, deadline=None)
@given(secret=printable_secrets(exclude=";"))
def test_a_secret_in_a_connection_string_goes_whole(secret):
    redacted = redact_value(f"Server=db.internal;Password={secret};Database=sales")
    assert secret not in redacted
    assert redacted.startswith("Server=db.internal;Password=")
    if not _opens_a_quote(secret):  # an unclosed quote runs to the end
        assert redacted == f"Server=db.internal;Password={_leading_blanks(secret)}{REDACTED};Database=sales"


@settings(max_examples=300, deadline=None)
@given(secret=printable_secrets(exclude="="), separator=st.sampled_from([",", "&", " ", ", "]))
def test_a_secret_in_a_list_of_pairs_goes_whole(secret, separator):
    redacted = redact_value(f"user=etl{separator}password={secret}{separator}role=reader")
    assert secret not in redacted
    assert redacted.startswith(f"user=etl{separator}password=")
    if not _opens_a_quote(secret):  # an unclosed quote runs to the end; blanks after '=' are kept
        assert redacted.startswith(f"user=etl{separator}password={_leading_blanks(secret)}{REDACTED}")


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(SECRET_KEYS), secret=printable_secrets())
def test_any_value_under_a_secret_key_is_redacted(key, secret):
    assert redact_map({key: secret}) == {key: REDACTED}


@given(key=st.text(max_size=60))
def test_any_key_is_classified_without_error(key):
    assert isinstance(is_secret_key(key), bool)
