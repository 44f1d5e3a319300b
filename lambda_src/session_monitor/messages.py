"""How one alert reads to each kind of subscriber. Pure: no AWS SDK; the SNS call is integration.sns.

SNS publishes with MessageStructure=json: one message per protocol, and a protocol without its own
key gets ``default``. So:

- ``default``: the JSON document (``alerting.body_json``), byte for byte the documented contract.
  SQS, Lambda, http, email-json and Firehose subscribers get it through the fallback; naming it
  again under ``sqs`` and ``lambda`` would put the document in the message three times, and the
  whole structure counts against SNS's 256 KB message limit.
- ``email``: plain text for a person (what happened, where, why, since when, how much, a console
  link, what to do next).
- ``https``: the custom-notification schema of Amazon Q Developer in chat applications (formerly
  AWS Chatbot), which subscribes to SNS over https and drops anything else.

The three together are bigger than the document alone (the card and the document are escaped
again inside the structure), so ``publication`` measures what SNS would and gives way in order:
the per-protocol structure; the JSON document alone (a plain Publish, as before issue 15: e-mail
gets the JSON, chat gets nothing it renders); the document without its engine configuration; the
session's identity only (``truncated`` names what was left out).

Everything here is built from the ``Alert``, whose session was redacted when it was normalised
(``model`` / ``redaction``: the configuration maps, the reason and the description), so no
rendering can carry a secret the model does not.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from .alerting import Alert, body, body_json, message_attributes, subject
from .ledger import RECOVERED
from .state_changes import IDENTITY_FIELDS

# SNS MessageStructure=json keys (the Publish API's protocol names).
DEFAULT, EMAIL, HTTPS = "default", "email", "https"

# Amazon Q Developer in chat applications, "Custom notifications": version must be 1.0, source
# must be "custom", and client-markdown is the only textType (rendered in Slack's or Teams' own
# markdown). No length limit was found in the guide; these keep a card inside Slack's 3,000
# characters per text block and a title on one line.
CHAT_VERSION, CHAT_SOURCE, CHAT_TEXT_TYPE = "1.0", "custom", "client-markdown"
CHAT_TITLE_MAX = 100
CHAT_DESCRIPTION_MAX = 3000
FIELD_MAX = 500  # one user-supplied value (description, reason) in a card or an e-mail

# SNS FIFO: MessageGroupId and MessageDeduplicationId take up to 128 characters from this set.
FIFO_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")

# SNS refuses a message whose body and attributes (each attribute's name, data type and value)
# together exceed the topic's MaximumMessageSize: 262,144 bytes unless raised (Publish API,
# MessageAttributeValue; developer guide, "Publishing large messages"). The subject is counted
# too: it is not documented as excluded, and it is at most 100 bytes.
SNS_MESSAGE_MAX_BYTES = 262_144
ATTRIBUTE_DATA_TYPE = "String"  # every alert attribute is a String

WHAT_HAPPENED = {
    # After the colon, FAILED, DEGRADED and TERMINATED quote Athena's descriptions of the states
    # (ListSessions StateFilter).
    "FAILED": "The session failed: due to a failure, the session and its resources are no longer running.",
    "DEGRADED": "The session has no healthy coordinators: calculations may fail or hang.",
    "TERMINATED": "The session ended: the session and its resources are no longer running.",
    "IDLE": (
        "The session has been idle for a long time and is still running: it ends when someone "
        "terminates it or when its idle timeout does."
    ),
}


def per_protocol(alert: Alert) -> dict[str, str]:
    """The message for each protocol (see the module docstring for who gets which)."""
    return {DEFAULT: body_json(alert), EMAIL: email_text(alert), HTTPS: chat_card_json(alert)}


def message_structure(alert: Alert) -> str:
    """The Message parameter of a Publish with MessageStructure=json."""
    return json.dumps(per_protocol(alert), separators=(",", ":"))


# --- what fits in one SNS message ------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    """One Publish: ``message`` is a MessageStructure=json object when ``per_protocol``, else the
    JSON document alone. ``left_out`` names what gave way to SNS's size limit (empty: nothing);
    ``size`` is what SNS counts (``sns_size``)."""

    subject: str
    message: str
    attributes: Mapping[str, str]
    per_protocol: bool
    left_out: tuple[str, ...]
    size: int


def sns_size(message: str, subject_line: str, attributes: Mapping[str, str]) -> int:
    """The bytes SNS holds against its limit: the message, the subject and every attribute's name,
    data type and value, in UTF-8."""
    attribute_bytes = sum(
        len(name.encode("utf-8")) + len(ATTRIBUTE_DATA_TYPE) + len(value.encode("utf-8"))
        for name, value in attributes.items()
    )
    return len(message.encode("utf-8")) + len(subject_line.encode("utf-8")) + attribute_bytes


def _document(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)  # as alerting.body_json


def _smaller_documents(alert: Alert) -> Iterator[tuple[str, tuple[str, ...]]]:
    """The JSON document in ever smaller forms: without the engine configuration (the one part of
    a session with no size bound: three maps of 51,200-character values), then the session's
    identity and the alert (its reason cut to FIELD_MAX), which always fits."""
    document = body(alert)
    if document.get("engine_configuration") is not None:
        document = {**document, "engine_configuration": None, "truncated": ["engine_configuration"]}
        yield _document(document), ("engine_configuration",)
    part = dict(document["alert"])
    truncated = ["session"]
    if isinstance(part.get("reason"), str) and len(part["reason"]) > FIELD_MAX:
        part["reason"] = part["reason"][: FIELD_MAX - 3] + "..."
        truncated.append("alert.reason")
    identity = {name: document.get(name) for name in IDENTITY_FIELDS}
    yield _document({**identity, "alert": part, "truncated": truncated}), tuple(truncated)


def _forms(alert: Alert) -> Iterator[tuple[str, bool, tuple[str, ...]]]:
    """(message, per_protocol, left_out) from the richest form to the smallest, rendered lazily."""
    people = (EMAIL, HTTPS)
    yield message_structure(alert), True, ()
    yield body_json(alert), False, people
    for text, cut in _smaller_documents(alert):
        yield text, False, people + cut


def publication(alert: Alert, limit: int = SNS_MESSAGE_MAX_BYTES) -> Publication:
    """The richest Publish of ``alert`` within ``limit`` (see the module docstring for the order);
    the last form, the session's identity, always fits.

    Only the per-protocol structure is published with MessageStructure=json: ``{"default": doc}``
    alone would be the document escaped once more, larger than a plain Publish of it.
    """
    subject_line, attributes = subject(alert), message_attributes(alert)
    for form in _forms(alert):
        size = sns_size(form[0], subject_line, attributes)
        if size <= limit:
            break
    message, structured, left_out = form
    return Publication(subject_line, message, attributes, structured, left_out, size)


# --- FIFO topics -----------------------------------------------------------------------------


def fifo_id(value: str) -> str:
    """``value`` when SNS FIFO accepts it as a group or de-duplication id, else a stable hash of it.

    Session ids are 1 to 256 characters with no pattern, so an id (or the alert id built from it)
    may be too long or hold characters SNS refuses; the same value always maps to the same id.
    """
    if FIFO_ID.fullmatch(value):
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def fifo_ids(alert: Alert) -> tuple[str, str]:
    """(MessageGroupId, MessageDeduplicationId): a session's alerts keep their order, and a
    repeat of one alert (the retry after a crash between publish and record) is dropped by SNS."""
    return fifo_id(alert.session.session_id), fifo_id(alert.alert_id)


# --- shared facts ----------------------------------------------------------------------------


def _one_line(text: str, limit: int = FIELD_MAX) -> str:
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _when(moment: datetime | None) -> str:
    return "unknown" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """2 h 05 min, 45 min, 30 s."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min" if minutes else f"{secs} s"


def began(alert: Alert) -> str:
    source = "Athena's time" if alert.episode.began_known else "first seen by the monitor"
    return f"{_when(alert.episode.began)} ({source})"


def duration(alert: Alert) -> str:
    """How long the session ran: to its end, or (still running) to when this episode began."""
    session = alert.session
    start, end = _parse(session.started_at), _parse(session.ended_at)
    if start is None:
        return "unknown (Athena gave no start time)"
    if end is not None:
        return f"{format_duration((end - start).total_seconds())} (started {_when(start)}, ended {_when(end)})"
    return f"{format_duration((alert.episode.began - start).total_seconds())} when this began (started {_when(start)})"


def dpu_hours(alert: Alert) -> str:
    hours = alert.session.dpu_hours
    return "unknown (Athena gave no statistics)" if hours is None else f"{hours:.2f}"


def cost(alert: Alert) -> str:
    session = alert.session
    price = session.price_per_dpu_hour_usd
    if session.estimated_cost_usd is None:
        return "unknown (no DPU statistics)"
    if not price:
        return "not estimated (pricePerDpuHour is 0)"
    return f"{session.estimated_cost_usd:.2f} USD at {price:g} USD per DPU-hour (an estimate, not a bill)"


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def console_url(region: str, workgroup: str | None) -> str:
    """The workgroup's page in the Athena console (its sessions are listed there).

    AWS documents no console URL for one Spark session, so the link names the workgroup; the
    session id is in the message next to it.
    """
    host = {
        "aws": f"https://{region}.console.aws.amazon.com",
        "aws-cn": f"https://{region}.console.amazonaws.cn",
        "aws-us-gov": "https://console.amazonaws-us-gov.com",
    }[partition(region)]
    page = f"/workgroups/details/{quote(workgroup, safe='')}" if workgroup else "/workgroups"
    return f"{host}/athena/home?region={quote(region, safe='')}#{page}"


def session_arn(alert: Alert) -> str | None:
    """arn:PARTITION:athena:REGION:ACCOUNT:workgroup/NAME/session/ID (Service Authorization
    Reference); None without a workgroup (no ARN is invented)."""
    workgroup = alert.session.workgroup
    if not workgroup:
        return None
    return (
        f"arn:{partition(alert.region)}:athena:{alert.region}:{alert.account}:"
        f"workgroup/{workgroup}/session/{alert.session.session_id}"
    )


def headline(alert: Alert) -> str:
    """The subject without the session id: ``[CRITICAL] Athena Spark session FAILED in etl``."""
    return f"[{alert.severity.upper()}] Athena Spark session {alert.state} in {alert.session.workgroup or 'unknown'}"


def what_happened(alert: Alert) -> str:
    if alert.state == RECOVERED:
        return f"The session is {alert.session.state or 'healthy'} again after being DEGRADED: the incident is over."
    return WHAT_HAPPENED.get(alert.state, f"The session is {alert.state}.")


def next_steps(alert: Alert) -> list[str]:
    """What a person can do now, per state; commands quote the ids so they can be pasted."""
    session_id, region = shlex.quote(alert.session.session_id), shlex.quote(alert.region)
    look = f"See the whole record: aws athena get-session --session-id {session_id} --region {region}"
    stop = f"aws athena terminate-session --session-id {session_id} --region {region}"
    steps = {
        "FAILED": [
            "Read the reason above and the session's calculations in the Athena console to see what failed.",
            "A failed session cannot be resumed: start a new one once the cause is fixed.",
            look,
        ],
        "DEGRADED": [
            "Hold new calculations: the running ones may fail.",
            "It may recover by itself: a RECOVERED notice follows (same thread in chat) if it does.",
            f"If it stays DEGRADED, end it and start a new session: {stop}",
        ],
        "TERMINATED": [
            "Nothing to do if it was stopped on purpose or by its idle timeout (Athena gives one reason for both).",
            "If nobody stopped it, look up TerminateSession for this session in CloudTrail event history.",
        ],
        "IDLE": [
            f"End it if nobody is using it: {stop}",
            "Or start sessions with a shorter idle timeout (SessionIdleTimeoutInMinutes, 1 to 480"
            + (f"; this one's is {alert.session.idle_timeout_minutes}" if alert.session.idle_timeout_minutes else "")
            + ").",
        ],
        RECOVERED: [
            "Nothing to do: this closes the DEGRADED alert.",
            "Check the calculations submitted while it was degraded.",
        ],
    }
    return steps.get(alert.state, [look])


# --- e-mail ----------------------------------------------------------------------------------


def email_text(alert: Alert) -> str:
    """The e-mail body: plain text, one fact per line, the console link and what to do next."""
    session = alert.session
    rows = [
        ("Workgroup", session.workgroup or "unknown"),
        ("Session", session.session_id),
        ("Description", _one_line(session.description) if session.description else "none"),
        ("State", f"{alert.state} ({alert.severity})"),
        ("Reason", _one_line(alert.reason) if alert.reason else "Athena gave no reason"),
        ("Began", began(alert)),
        ("Ran for", duration(alert)),
        ("DPU-hours", dpu_hours(alert)),
        ("Estimated cost", cost(alert)),
        ("Account, Region", f"{alert.account}, {alert.region}"),
    ]
    width = max(len(label) for label, _ in rows) + 2
    lines = [_one_line(headline(alert), 200), "", what_happened(alert), ""]
    lines += [f"{label + ':':<{width}}{value}" for label, value in rows]
    lines += ["", "Athena console (the workgroup's sessions):", console_url(alert.region, session.workgroup), ""]
    lines += ["What to do next:", *(f"- {step}" for step in next_steps(alert)), ""]
    lines.append(f"Alert id: {alert.alert_id}")
    if alert.resolves_alert_id:
        lines.append(f"Resolves: {alert.resolves_alert_id}")
    lines.append("A repeat with the same alert id is the same alert (sent again after a crash): ignore it.")
    return "\n".join(lines) + "\n"


# --- chat (Amazon Q Developer in chat applications) ------------------------------------------


def slack_escape(text: str) -> str:
    """``text`` with Slack's three control characters as the entities Slack documents (&amp; &lt;
    &gt;), so no text of ours or of a user opens a link, a mention (<!channel>) or a date."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, never ending in half an entity."""
    if len(text) <= limit:
        return text
    return re.sub(r"&[a-z]*$", "", text[: limit - 3]) + "..."


def _code(text: str | None) -> str:
    """User-supplied text as escaped inline code, on one line (a backtick would end the code)."""
    if not text:
        return "none"
    return "`" + slack_escape(_one_line(text.replace("`", "'"))) + "`"


def _title(alert: Alert) -> str:
    return _cut(slack_escape(_one_line(headline(alert), CHAT_TITLE_MAX)), CHAT_TITLE_MAX)


def _chat_description(alert: Alert) -> str:
    session = alert.session
    lines = [
        f"Session {_code(session.session_id)} in workgroup {_code(session.workgroup)} ({alert.account}, {alert.region})",
        slack_escape(what_happened(alert)),  # names the state, which is Athena's text
        f"Reason: {_code(alert.reason)}",
        f"Began: {began(alert)}",
        f"Ran for: {duration(alert)}",
        f"DPU-hours: {dpu_hours(alert)} | Estimated cost: {cost(alert)}",
        f"Description: {_code(session.description)}",
        f"Athena console: {console_url(alert.region, session.workgroup)}",
    ]
    return _cut("\n".join(lines), CHAT_DESCRIPTION_MAX)


def chat_card(alert: Alert) -> dict[str, Any]:
    """The custom notification: ``threadId`` is the session's, so its DEGRADED, RECOVERED and
    FAILED notices share one thread (where the channel's preferences thread notifications).

    Every text the channel renders (title, description, next steps, keywords, summary) is Slack-
    escaped; ``additionalContext`` holds the raw values (custom actions read them, chat shows
    none of them). Without a workgroup there is no session ARN, so no ``relatedResources``.
    """
    context = {
        "alert_id": alert.alert_id,
        "state": alert.state,
        "severity": alert.severity,
        "workgroup": alert.session.workgroup or "unknown",
        "session_id": alert.session.session_id,
        "account": alert.account,
        "region": alert.region,
        "resolves_alert_id": alert.resolves_alert_id or "",
    }
    metadata: dict[str, Any] = {
        "threadId": fifo_id(alert.session.session_id),
        "summary": slack_escape(subject(alert)),
        "eventType": f"athena-spark-session-{alert.state.lower()}",
    }
    arn = session_arn(alert)
    if arn is not None:
        metadata["relatedResources"] = [arn]
    metadata["additionalContext"] = {k: v for k, v in context.items() if v}
    return {
        "version": CHAT_VERSION,
        "source": CHAT_SOURCE,
        "id": alert.alert_id,
        "content": {
            "textType": CHAT_TEXT_TYPE,
            "title": _title(alert),
            "description": _chat_description(alert),
            "nextSteps": [slack_escape(step) for step in next_steps(alert)],
            "keywords": [
                slack_escape(word) for word in (alert.state, alert.severity, alert.session.workgroup or "unknown")
            ],
        },
        "metadata": metadata,
    }


def chat_card_json(alert: Alert) -> str:
    return json.dumps(chat_card(alert), separators=(",", ":"))
