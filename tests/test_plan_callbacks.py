"""Callback data of /piano buttons: short, parsed back, forged data refused."""

import pytest

from bot import callbacks
from bot.callbacks import FollowAction, InvalidCallback, OpenPlan


def test_plan_buttons_round_trip_within_64_bytes():
    code = "S2.10-long_code.ABCDEFGHIJKLMNOP"[:32]
    for data, parsed in [
        (callbacks.plan_data(), OpenPlan()),
        (callbacks.plan_data(strategy_id="S4"), OpenPlan(strategy_id="S4")),
        (callbacks.plan_data(action_code=code), OpenPlan(action_code=code)),
        (callbacks.follow_action_data(True, code), FollowAction(True, code)),
        (callbacks.follow_action_data(False, "S4.1"), FollowAction(False, "S4.1")),
    ]:
        assert len(data.encode()) <= callbacks.MAX_CALLBACK_BYTES
        assert callbacks.parse(data) == parsed


@pytest.mark.parametrize(
    "forged", ["pl", "pl:r:x", "pl:a:", "pl:a:../x", "pl:x:S4.1", "pl:f:S4.1:extra", "pl:s:a b"]
)
def test_forged_plan_data_is_refused(forged):
    with pytest.raises(InvalidCallback):
        callbacks.parse(forged)
