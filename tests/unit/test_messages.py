"""How one alert reads to each subscriber: the JSON contract, the e-mail text, the chat card, and
the ids a FIFO topic needs. Pure functions over an Alert; delivery is in tests/integration/test_delivery.py."""

from __future__ import annotations

import json
import string
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from session_monitor import alerting, messages
from session_monitor.model import session_from_get
from tests import alert_examples
from tests.helpers import NOW, get_session_response, make_alert

REPO = Path(__file__).resolve().parents[2]
GOLDEN = json.loads((REPO / "tests/events/alert_document.json").read_text())["documents"]

ACCOUNT, REGION = "123456789012", "eu-west-1"


def _alert(session, state, began=NOW - timedelta(minutes=1), known=True, token=None, resolves=None, note=None):
    return make_alert(session, state, began, known, token, resolves, note)


def _failed(session_id="7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab", **kwargs):
    raw = get_session_response(session_id, "FAILED", "etl", reason="Coordinator lost: out of memory", **kwargs)
    return _alert(session_from_get(raw, 0.35), "FAILED")


# --- the structure SNS receives ------------------------------------------------------------


def test_the_default_part_is_the_document_heads_code_published_byte_for_byte():
    """The golden documents were written by HEAD's alerting.py before issue 15 (the fixture says
    which commit): a changed key, order, escaping or number format fails here."""
    for name, expected in GOLDEN.items():
        structure = json.loads(messages.message_structure(alert_examples.alert(name)))
        assert structure["default"] == expected, name
    assert "\\u00e9" in GOLDEN["tricky_degraded"]  # non-ASCII stays \u-escaped, as before


def test_email_and_chat_have_their_own_parts_and_no_other_protocol_is_named():
    alert = _failed()
    structure = json.loads(messages.message_structure(alert))
    # sqs, lambda, http, email-json and firehose fall back to default: the documented document.
    assert sorted(structure) == ["default", "email", "https"]
    assert structure["email"] == messages.email_text(alert)
    assert json.loads(structure["https"]) == messages.chat_card(alert)


# --- e-mail ----------------------------------------------------------------------------------


def test_the_email_says_what_happened_where_why_since_when_how_much_and_what_next():
    alert = _failed()
    text = messages.email_text(alert)
    lines = text.splitlines()
    assert lines[0] == "[CRITICAL] Athena Spark session FAILED in etl"
    assert "The session failed" in text
    for expected in (
        "Workgroup:       etl",
        "Session:         7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab",
        "Description:     notebook session 7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab",
        "State:           FAILED (critical)",
        "Reason:          Coordinator lost: out of memory",
        "Began:           2026-11-26 11:59:00 UTC (Athena's time)",
        # get_session_response: started an hour before NOW, ended a minute before it.
        "Ran for:         59 min (started 2026-11-26 11:00:00 UTC, ended 2026-11-26 11:59:00 UTC)",
        "DPU-hours:       2.00",
        "Estimated cost:  0.70 USD at 0.35 USD per DPU-hour (an estimate, not a bill)",
        "https://eu-west-1.console.aws.amazon.com/athena/home?region=eu-west-1#/workgroups/details/etl",
        "- See the whole record: aws athena get-session --session-id 7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab --region eu-west-1",
        "Alert id: 123456789012/eu-west-1/7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab#FAILED#END",
    ):
        assert expected in lines, expected
    assert text.isascii()


def test_each_state_gets_its_own_explanation_and_next_steps():
    session = session_from_get(get_session_response("s-1", "DEGRADED", "etl"), 0.35)
    degraded = messages.email_text(_alert(session, "DEGRADED"))
    assert "no healthy coordinators" in degraded
    assert "aws athena terminate-session --session-id s-1 --region eu-west-1" in degraded
    idle = messages.email_text(_alert(session, "IDLE", note="idle for 95 minutes"))
    assert "Reason:          idle for 95 minutes" in idle and "this one's is 20" in idle
    # What the API says of an IDLE session: still running until terminated or timed out. No claim
    # about what it is billed while idle (not documented where we looked).
    assert "idle for a long time and is still running: it ends when someone terminates it" in idle
    assert "DPUs" not in idle.split("Reason:")[0]
    recovered = messages.email_text(
        _alert(session, "RECOVERED", token="20261126T115900Z", resolves="DEGRADED#20261126T115900Z")
    )
    assert "again after being DEGRADED" in recovered
    assert "Resolves: 123456789012/eu-west-1/s-1#DEGRADED#20261126T115900Z" in recovered
    ended = messages.email_text(_alert(session, "TERMINATED"))
    assert "TerminateSession" in ended


def test_missing_facts_read_unknown_and_a_zero_price_turns_the_estimate_off():
    raw = get_session_response("s-2", "FAILED", "etl")
    del raw["Statistics"], raw["Status"]["StartDateTime"], raw["Description"]
    text = messages.email_text(_alert(session_from_get(raw, 0.35), "FAILED", known=False))
    assert "Ran for:         unknown (Athena gave no start time)" in text
    assert "DPU-hours:       unknown (Athena gave no statistics)" in text
    assert "Description:     none" in text
    assert "Reason:          Athena gave no reason" in text
    assert "(first seen by the monitor)" in text
    free = messages.email_text(_alert(session_from_get(get_session_response("s-3", "FAILED"), 0.0), "FAILED"))
    assert "Estimated cost:  not estimated (pricePerDpuHour is 0)" in free


def test_user_text_cannot_forge_lines_in_the_email_and_ids_are_quoted_in_commands():
    raw = get_session_response("s; rm -rf ~", "FAILED", "etl", reason="boom\nWorkgroup: forged\x1b[31m")
    raw["Description"] = "x" * 5000
    text = messages.email_text(_alert(session_from_get(raw, 0.35), "FAILED"))
    assert "Workgroup:       forged" not in text.splitlines() and "\x1b" not in text
    assert "Reason:          boom Workgroup: forged [31m" in text
    assert max(len(line) for line in text.splitlines()) < 700
    assert "--session-id 's; rm -rf ~' --region eu-west-1" in text


# --- chat card -------------------------------------------------------------------------------


def test_the_chat_card_follows_the_custom_notification_schema():
    card = messages.chat_card(_failed())
    assert (card["version"], card["source"]) == ("1.0", "custom")
    assert card["id"] == "123456789012/eu-west-1/7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab#FAILED#END"
    content, metadata = card["content"], card["metadata"]
    assert content["textType"] == "client-markdown"
    assert content["title"] == "[CRITICAL] Athena Spark session FAILED in etl"
    assert "Reason: `Coordinator lost: out of memory`" in content["description"]
    assert "0.70 USD" in content["description"] and "Ran for: 59 min" in content["description"]
    assert "#/workgroups/details/etl" in content["description"]
    assert all(isinstance(step, str) and step for step in content["nextSteps"])
    assert content["keywords"] == ["FAILED", "critical", "etl"]
    assert metadata["threadId"] == "7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab"
    assert metadata["summary"] == alerting.subject(_failed())
    assert metadata["relatedResources"] == [
        "arn:aws:athena:eu-west-1:123456789012:workgroup/etl/session/7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab"
    ]
    assert all(isinstance(v, str) and v for v in metadata["additionalContext"].values())
    assert metadata["additionalContext"]["alert_id"] == card["id"]
    assert set(card) == {"version", "source", "id", "content", "metadata"}


def test_a_sessions_degraded_recovered_and_failed_cards_share_one_thread():
    session = session_from_get(get_session_response("s-7", "DEGRADED", "etl"), 0.35)
    cards = [
        messages.chat_card(_alert(session, "DEGRADED")),
        messages.chat_card(
            _alert(session, "RECOVERED", token="20261126T115900Z", resolves="DEGRADED#20261126T115900Z")
        ),
        messages.chat_card(_alert(session, "FAILED")),
    ]
    assert {card["metadata"]["threadId"] for card in cards} == {"s-7"}
    assert len({card["id"] for card in cards}) == 3
    other = messages.chat_card(_alert(session_from_get(get_session_response("s-8", "FAILED"), 0.35), "FAILED"))
    assert other["metadata"]["threadId"] == "s-8"


def _rendered_text(card: dict) -> str:
    """Every text of a card that the chat channel renders."""
    content = card["content"]
    parts = [content["title"], content["description"], *content["nextSteps"], *content["keywords"]]
    return "\n".join([*parts, card["metadata"]["summary"]])


def test_user_text_in_a_card_is_slack_escaped_so_it_cannot_mention_link_or_break_out():
    raw = get_session_response(
        "s<!here>", "FAILED", "etl", reason="<!channel> see `<https://evil.example|here>` & <@U123>"
    )
    raw["Description"] = "AT&T <b>"
    card = messages.chat_card(_alert(session_from_get(raw, 0.35), "FAILED"))
    description = card["content"]["description"]
    assert "Reason: `&lt;!channel&gt; see '&lt;https://evil.example|here&gt;' &amp; &lt;@U123&gt;`" in description
    assert "Description: `AT&amp;T &lt;b&gt;`" in description
    assert "Session `s&lt;!here&gt;`" in description
    rendered = _rendered_text(card)
    # Slack's control characters appear only as its entities: no '<' or '>' at all, every '&' an entity.
    assert "<" not in rendered and ">" not in rendered
    assert rendered.count("&") == sum(rendered.count(e) for e in ("&amp;", "&lt;", "&gt;"))
    # The ids custom actions read stay raw: chat renders none of additionalContext.
    assert card["metadata"]["additionalContext"]["session_id"] == "s<!here>"


def test_a_long_card_is_cut_to_its_limits_and_never_in_half_an_entity():
    raw = get_session_response("s-1", "FAILED", "etl", reason="r")
    raw["Description"] = "d" * 10_000
    card = messages.chat_card(_alert(session_from_get(raw, 0.35), "FAILED"))
    assert len(card["content"]["description"]) <= messages.CHAT_DESCRIPTION_MAX
    assert len(card["content"]["title"]) <= messages.CHAT_TITLE_MAX
    for amount in range(2990, 3000):
        cut = messages._cut("x" * amount + "&amp;" * 10, messages.CHAT_DESCRIPTION_MAX)
        assert len(cut) <= messages.CHAT_DESCRIPTION_MAX and cut.endswith("...")
        assert not cut.removesuffix("...").rsplit("&amp;", 1)[-1].startswith("&"), cut[-12:]


def test_without_a_workgroup_the_card_names_no_invented_arn():
    raw = get_session_response("s-1", "FAILED", "etl")
    del raw["WorkGroup"]
    card = messages.chat_card(_alert(session_from_get(raw, 0.35), "FAILED"))
    assert "relatedResources" not in card["metadata"]
    assert "workgroup/unknown" not in json.dumps(card)


def test_a_huge_workgroup_name_keeps_the_title_on_one_short_line():
    raw = get_session_response("s-1", "FAILED", "w" * 128)
    card = messages.chat_card(_alert(session_from_get(raw, 0.35), "FAILED"))
    assert len(card["content"]["title"]) == messages.CHAT_TITLE_MAX and card["content"]["title"].endswith("...")


# --- secrets ---------------------------------------------------------------------------------

JDBC_PASSWORD, TOKEN = "Hunter2-Pr0d", "ghp_abcdEFGH1234567890abcdEFGH1234567890"


def test_a_secret_in_the_reason_or_the_description_reaches_no_rendering():
    reason = f"Session failed: py4j error connecting to jdbc:postgresql://etl_admin:{JDBC_PASSWORD}@db.internal:5432/wh"
    raw = get_session_response("s-1", "FAILED", "etl", reason=reason)
    raw["Description"] = f"nightly load; token={TOKEN}"
    alert = _alert(session_from_get(raw, 0.35), "FAILED")
    parts = json.loads(messages.message_structure(alert))
    for name, part in parts.items():
        assert JDBC_PASSWORD not in part and TOKEN not in part, name
    assert "jdbc:postgresql://***redacted***@db.internal:5432/wh" in parts["email"]
    assert "Description:     nightly load; token=***redacted***" in parts["email"]
    assert "nightly load; token=***redacted***" in json.loads(parts["https"])["content"]["description"]
    assert json.loads(parts["default"])["alert"]["reason"].endswith("***redacted***@db.internal:5432/wh")


def test_a_secret_in_spark_properties_reaches_no_rendering():
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    raw = get_session_response("s-1", "FAILED", "etl")
    raw["EngineConfiguration"]["SparkProperties"]["spark.hadoop.fs.s3a.secret.key"] = secret
    # In a URI's userinfo a '/' must be percent-encoded (RFC 3986), as a JDBC URL carries it.
    raw["EngineConfiguration"]["AdditionalConfigs"]["jdbc"] = f"jdbc:postgresql://admin:{quote(secret, safe='')}@db/x"
    alert = _alert(session_from_get(raw, 0.35), "FAILED")
    structure = messages.message_structure(alert)
    assert secret not in structure and quote(secret, safe="") not in structure
    for part in json.loads(structure).values():
        assert secret not in part
    assert "***redacted***" in json.loads(structure)["default"]


# --- links -----------------------------------------------------------------------------------


def test_the_console_link_follows_the_partition():
    assert messages.console_url("cn-north-1", "etl") == (
        "https://cn-north-1.console.amazonaws.cn/athena/home?region=cn-north-1#/workgroups/details/etl"
    )
    assert messages.console_url("us-gov-west-1", None).startswith("https://console.amazonaws-us-gov.com/athena/home")
    assert messages.console_url("us-east-1", None).endswith("#/workgroups")


# --- FIFO ids --------------------------------------------------------------------------------

# The Publish API: MessageGroupId and MessageDeduplicationId are up to 128 characters, "alphanumeric
# characters (a-z, A-Z, 0-9) and punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~)": that list is
# exactly Python's string.punctuation, so this check shares nothing with messages.FIFO_ID.
SNS_FIFO_CHARACTERS = frozenset(string.ascii_letters + string.digits + string.punctuation)


def sns_accepts_fifo_id(value: str) -> bool:
    return 1 <= len(value) <= 128 and set(value) <= SNS_FIFO_CHARACTERS


def test_fifo_ids_are_the_session_and_the_alert_when_they_fit():
    alert = _failed()
    assert messages.fifo_ids(alert) == (alert.session.session_id, alert.alert_id)
    assert sns_accepts_fifo_id(alert.alert_id)


def test_a_session_id_with_a_blank_or_non_ascii_character_is_hashed():
    for session_id in ("s 1", "sé", "s\t1"):
        group, _dedup = messages.fifo_ids(_failed(session_id))
        assert group.startswith("sha256:") and sns_accepts_fifo_id(group)


def test_a_256_character_session_id_gets_stable_hashed_fifo_ids_within_snss_limits():
    session_id = "s" * 256
    alert = _failed(session_id)
    group, dedup = messages.fifo_ids(alert)
    assert sns_accepts_fifo_id(group) and sns_accepts_fifo_id(dedup)
    assert messages.fifo_ids(_failed(session_id)) == (group, dedup)  # a retry names it alike
    degraded = _alert(session_from_get(get_session_response(session_id, "DEGRADED"), 0.35), "DEGRADED")
    assert messages.fifo_ids(degraded)[0] == group and messages.fifo_ids(degraded)[1] != dedup


@given(st.text(min_size=1, max_size=256))
def test_any_model_valid_session_id_gives_fifo_ids_sns_accepts(session_id):
    session = session_from_get(get_session_response("placeholder", "FAILED"), 0.35)
    alert = _alert(session.__class__(**{**session.__dict__, "session_id": session_id}), "FAILED")
    group, dedup = messages.fifo_ids(alert)
    assert sns_accepts_fifo_id(group) and sns_accepts_fifo_id(dedup)
    assert messages.chat_card(alert)["metadata"]["threadId"] == group


# --- what fits in one SNS message ------------------------------------------------------------


def _big(properties: int, value: str = "v" * 20, reason: str = "boom") -> alerting.Alert:
    """A FAILED session whose Spark properties make its document about ``properties`` x 50 bytes."""
    raw = get_session_response("7cc5b9a4-1f2e-4d3c-9b8a-0123456789ab", "FAILED", "etl", reason=reason)
    raw["EngineConfiguration"]["SparkProperties"] = {f"spark.app.setting.{i:06d}": value for i in range(properties)}
    return _alert(session_from_get(raw, 0.35), "FAILED")


def _measured(alert: alerting.Alert, message: str) -> int:
    return messages.sns_size(message, alerting.subject(alert), alerting.message_attributes(alert))


def test_an_ordinary_alert_goes_out_per_protocol_in_full():
    alert = _failed()
    chosen = messages.publication(alert)
    assert chosen.per_protocol and chosen.left_out == ()
    assert chosen.message == messages.message_structure(alert)
    assert chosen.subject == alerting.subject(alert) and dict(chosen.attributes) == alerting.message_attributes(alert)
    assert chosen.size == _measured(alert, chosen.message) < messages.SNS_MESSAGE_MAX_BYTES


def test_sns_counts_the_message_subject_and_each_attributes_name_type_and_value_in_utf8_bytes():
    assert messages.sns_size("é", "s", {"k": "vé"}) == 2 + 1 + (1 + len("String") + 3)


def test_a_document_that_fit_before_issue_15_still_goes_out_whole_as_a_plain_publish():
    """The reviewer's case: 4,900 properties make a 246 KB document and a 268 KB structure."""
    alert = _big(4900)
    document = alerting.body_json(alert)
    assert (
        _measured(alert, document)
        <= messages.SNS_MESSAGE_MAX_BYTES
        < _measured(alert, messages.message_structure(alert))
    )
    chosen = messages.publication(alert)
    assert (chosen.per_protocol, chosen.message, chosen.left_out) == (False, document, ("email", "https"))
    assert chosen.size <= messages.SNS_MESSAGE_MAX_BYTES


def test_backslashes_grow_in_the_structure_and_the_measure_sees_it():
    """A Windows path's backslash is 2 bytes in the document and 4 in the structure's default part."""
    alert = _big(1100, value="C:\\tmp\\x\\y\\z\\" * 8)  # a 193 KB document, a 288 KB structure
    document, structure = alerting.body_json(alert), messages.message_structure(alert)
    assert len(structure) > 1.4 * len(document)
    assert _measured(alert, document) <= messages.SNS_MESSAGE_MAX_BYTES < _measured(alert, structure)
    chosen = messages.publication(alert)
    assert chosen.left_out == ("email", "https") and chosen.message == document
    assert chosen.size <= messages.SNS_MESSAGE_MAX_BYTES


def test_the_message_is_ascii_and_non_ascii_attributes_are_measured_in_bytes():
    """json.dumps escapes non-ASCII (\\u00e9), so only the attributes (a session id has no pattern)
    can hold multi-byte characters; SNS counts their UTF-8 bytes."""
    raw = get_session_response("sé" * 128, "FAILED", "etl", reason="é")
    alert = _alert(session_from_get(raw, 0.35), "FAILED")
    chosen = messages.publication(alert)
    attributes = alerting.message_attributes(alert)
    assert chosen.message.isascii() and chosen.subject.isascii()
    attribute_bytes = sum(len(k) + len("String") + len(v.encode()) for k, v in attributes.items())
    assert attribute_bytes > sum(len(k) + len("String") + len(v) for k, v in attributes.items())
    assert chosen.size == len(chosen.message) + len(chosen.subject) + attribute_bytes


def test_a_document_too_big_by_itself_loses_its_engine_configuration_with_a_marker():
    alert = _big(6000)
    assert _measured(alert, alerting.body_json(alert)) > messages.SNS_MESSAGE_MAX_BYTES
    chosen = messages.publication(alert)
    document = json.loads(chosen.message)
    assert chosen.left_out == ("email", "https", "engine_configuration") and not chosen.per_protocol
    assert document["truncated"] == ["engine_configuration"] and document["engine_configuration"] is None
    expected = json.loads(alerting.body_json(alert))
    del expected["engine_configuration"]
    assert {k: v for k, v in document.items() if k not in ("engine_configuration", "truncated")} == expected


def test_when_nothing_else_fits_the_identity_and_the_alert_go_out():
    """A 300 KB reason (the only unbounded text left once the configuration is gone)."""
    alert = _big(10, reason="x" * 300_000)
    chosen = messages.publication(alert)
    document = json.loads(chosen.message)
    assert chosen.left_out == ("email", "https", "session", "alert.reason")
    assert document["truncated"] == ["session", "alert.reason"]
    assert set(document) == {"session_id", "workgroup", "state", "alert", "truncated"}
    assert document["alert"]["alert_id"] == alert.alert_id and len(document["alert"]["reason"]) == messages.FIELD_MAX
    assert chosen.size <= messages.SNS_MESSAGE_MAX_BYTES


@settings(deadline=None, max_examples=25)  # each example renders up to 1 MB of JSON
@given(st.integers(min_value=0, max_value=7000), st.sampled_from(["v", "\\\\", "é", '"', "\u2603"]))
def test_whatever_the_configuration_the_publication_fits_and_says_what_it_left_out(properties, character):
    alert = _big(properties, value=character * 30)
    chosen = messages.publication(alert)
    assert chosen.size == _measured(alert, chosen.message) <= messages.SNS_MESSAGE_MAX_BYTES
    assert chosen.per_protocol == (chosen.left_out == ())


# --- the README shows what the code renders ---------------------------------------------------


def _readme_block(after: str, fence: str) -> str:
    readme = (REPO / "README.md").read_text()
    return readme.split(after, 1)[1].split(f"```{fence}\n", 1)[1].split("```", 1)[0]


def test_the_readmes_email_and_chat_card_are_what_the_code_renders_for_its_session():
    alert = alert_examples.alert("readme_failed")
    assert _readme_block("The e-mail (subject", "text") == messages.email_text(alert)
    assert f"The e-mail (subject `{alerting.subject(alert)}`)" in (REPO / "README.md").read_text()
    assert json.loads(_readme_block("The chat card (the `https` part)", "json")) == messages.chat_card(alert)


def test_the_readmes_json_document_shows_lines_of_the_code_document_in_order():
    alert = alert_examples.alert("readme_failed")
    expected = json.dumps(json.loads(alerting.body_json(alert)), indent=2, sort_keys=True).splitlines()
    shown = _readme_block("The JSON document (the `default` part", "json").splitlines()
    kept = [line for line in shown if not line.startswith("…")]
    assert kept[0] == "{" and kept[-1] == "}" and len(kept) > 20
    positions = [expected.index(line) for line in kept]
    assert positions == sorted(positions)
