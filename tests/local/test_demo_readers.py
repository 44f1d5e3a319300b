"""`make demo` ends with one alert as its two human readers got it: the e-mail text moto holds for
the e-mail subscription, and the chat card moto POSTed to the https endpoint (issue 15, part 5)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.local.test_local_mode import REPO, child_environment


def test_the_demo_shows_the_failed_alert_as_the_email_reader_and_the_chat_channel_got_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "local_mode.runner", "--once", "--port", "0", "--function-log", str(tmp_path / "f.log")],
        cwd=REPO,
        env=child_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    email = out[out.index("The FAILED alert as the e-mail reader") : out.index("The same alert as the chat channel")]
    card_text = out[out.index("The same alert as the chat channel") : out.index("\nOK: ")]
    [failed_id] = re.findall(r"ml-training  ([0-9a-f-]{36})  CREATING .* -> FAILED$", out, re.M)

    lines = [line.removeprefix("  ") for line in email.splitlines()[1:]]
    assert lines[0] == "[CRITICAL] Athena Spark session FAILED in ml-training"
    assert f"Session:         {failed_id}" in lines
    assert "Reason:          emulated: the coordinator did not recover" in lines
    assert (
        "https://us-east-1.console.aws.amazon.com/athena/home?region=us-east-1#/workgroups/details/ml-training" in lines
    )
    assert any(line.startswith("Estimated cost:  ") and "USD" in line for line in lines)

    card = json.loads(card_text[card_text.index("{") :])
    assert (card["version"], card["source"], card["content"]["textType"]) == ("1.0", "custom", "client-markdown")
    assert card["metadata"]["threadId"] == failed_id
    assert card["id"].endswith(f"/{failed_id}#FAILED#END")
    # Short enough to read in a terminal: the two readers take under 80 lines.
    assert len((email + card_text).splitlines()) < 80
