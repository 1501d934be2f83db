from tandem.lib.step_timer import StepTimer


def test_each_step_gets_the_seconds_since_the_previous_one_and_a_repeated_name_adds_up():
    into = {"from an earlier run": 9.0}
    step = StepTimer(into)
    assert into == {}
    step.started -= 2.0  # as if the first step took two seconds
    step("read")
    step.started -= 1.0
    step("write")
    step.started -= 0.5
    step("read")
    assert list(into) == ["read", "write"]
    assert 2.5 <= into["read"] < 2.6
    assert 1.0 <= into["write"] < 1.1
