"""Groups: sessions started together, and one completion, decided once, when the last has ended.

The first half runs without a worker: members are moved to their outcomes by
hand and the group is settled as a worker's end or the cluster's check would
settle it. The second half runs against a real qcluster, on both set-ups.
"""

import os
import random
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from demo.models import SessionLog
from sessions_app import groups, maintenance
from sessions_app.api import get_group, start_group, stop_group, wait_group
from sessions_app.exceptions import SessionStartError
from sessions_app.models import BackgroundSession, GroupStatus, SessionGroup
from tests.conftest import BASE_DIR, queued_tasks, wait_until

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.usefixtures("empty_queue")]

WAIT = 60


def members(group) -> list[BackgroundSession]:
    return list(BackgroundSession.objects.filter(group_id=group.id).order_by("id"))


def end(session, status="succeeded", **fields):
    """Move a member to its end as its worker would have, and ask its group, as the worker's end does."""
    BackgroundSession.objects.filter(pk=session.id).update(
        status=status, started_at=timezone.now(), finished_at=timezone.now(), **fields
    )
    return groups.settle(session.group_id, ended=BackgroundSession.objects.get(pk=session.id))


def completions(group) -> list[BackgroundSession]:
    return list(BackgroundSession.objects.filter(origin=f"group:{group.id}:then"))


# Without a worker.


def test_a_group_writes_its_members_queued_in_one_commit_and_hands_them_to_the_queue():
    group = start_group("No-op", params=[{}] * 5, company="CRONUS", then="Group Completion", name="five")
    rows = members(group)
    assert (group.size, group.status, len(rows)) == (5, "running", 5)
    assert {(s.status, s.company, s.codeunit_name, s.origin) for s in rows} == {("queued", "CRONUS", "No-op", None)}
    assert queued_tasks() == 5 and not completions(group)
    assert (group.then_codeunit_name, group.then_company) == ("Group Completion", "CRONUS")


def test_every_member_and_the_completion_are_checked_first_and_a_refusal_writes_nothing():
    cases = [
        (dict(params=[{}, {}, {"colour": "red"}]), "invalid_params", "members[2]"),
        (dict(members=[{"codeunit": "No-op"}, {"codeunit": "Teh Works"}]), "unknown_codeunit", "members[1]"),
        (dict(members=[{"codeunit": "No-op", "company": "CRONUS US"}]), "unknown_company", "members[0]"),
        (dict(params=[{}], then="Nope"), "unknown_codeunit", "then:"),
        (dict(params=[]), "invalid_params", "non-empty list"),
        (dict(params=[{}], policy="sometimes"), "invalid_params", "Policy 'sometimes'"),
    ]
    for kwargs, reason, words in cases:
        codeunit = None if "members" in kwargs else "No-op"
        with pytest.raises(SessionStartError) as e:
            start_group(codeunit, company="CRONUS", **kwargs)
        assert e.value.reason == reason and words in str(e.value), (kwargs, str(e.value))
    assert not SessionGroup.objects.exists() and not BackgroundSession.objects.exists() and queued_tasks() == 0


def test_mixed_codeunits_in_two_companies_and_the_completion_in_a_third_place():
    group = start_group(
        members=[{"codeunit": "No-op"}, {"codeunit": "Insert Row", "company": "CRONUS UK", "params": {"result": "r"}}],
        company="CRONUS",
        then="Group Completion",
        then_company="CRONUS UK",
    )
    assert [(s.codeunit_name, s.company) for s in members(group)] == [("No-op", "CRONUS"), ("Insert Row", "CRONUS UK")]
    assert group.companies() == {"CRONUS", "CRONUS UK"}


def test_the_last_members_end_decides_once_and_writes_the_completion_with_the_decision():
    group = start_group("No-op", params=[{}] * 3, company="CRONUS", then="Group Completion")
    first, second, third = members(group)
    assert end(first) is None and end(second) is None  # members still queued: nothing is decided
    assert end(third) == GroupStatus.SUCCEEDED
    assert groups.settle(group.id) is None and end(third) is None  # asked again: decided already
    group = get_group(group.id)
    [completion] = completions(group)
    assert group.completion_id == completion.id and completion.status == "queued" and group.decided_at is not None
    assert "every member succeeded; its completion runs in session" in group.message
    assert [o["status"] for o in group.outcomes()] == ["succeeded"] * 3


@pytest.mark.parametrize(
    ("policy", "status", "runs"),
    [("all_succeeded", "failed", False), ("always", "failed", True), ("fail_fast", "failed", False)],
)
def test_a_member_that_fails_under_each_policy(policy, status, runs):
    group = start_group("No-op", params=[{}] * 3, company="CRONUS", then="Group Completion", policy=policy)
    first, second, third = members(group)
    decided = end(first, "failed", error="ValueError: no")
    if policy == "fail_fast":  # the first failure decides, and the others are stopped: queued ones never run
        assert decided == "failed"
        assert {s.status for s in members(group)[1:]} == {"cancelled"}
        assert "the other members were stopped" in get_group(group.id).message
    else:
        assert decided is None
        end(second)
        assert end(third) == status
    group = get_group(group.id)
    assert group.status == status and bool(completions(group)) == runs


def test_a_lost_members_re_run_is_the_member_and_its_group_waits_for_it():
    group = start_group("Rerun When Lost", params=[{}, {}], company="CRONUS", then="Group Completion")
    lost, other = members(group)
    end(other)
    BackgroundSession.objects.filter(pk=lost.id).update(
        status="running", worker="elsewhere:1", started_at=timezone.now()
    )
    assert maintenance.settle(BackgroundSession.objects.get(pk=lost.id)) == "lost"  # the engine runs it once more
    rerun = BackgroundSession.objects.get(origin=f"rerun:{lost.id}")
    assert rerun.group_id == group.id and get_group(group.id).status == "running" and not completions(group)
    assert end(rerun) == "succeeded"
    assert [o["session_id"] for o in get_group(group.id).outcomes()] == [rerun.id, other.id] or [
        o["session_id"] for o in get_group(group.id).outcomes()
    ] == [other.id, rerun.id]


def test_stop_group_stops_its_members_and_runs_no_completion():
    group = start_group("No-op", params=[{}] * 3, company="CRONUS", then="Group Completion")
    end(members(group)[0])
    assert stop_group(group.id)
    assert not stop_group(group.id)  # ended already
    group = get_group(group.id)
    assert group.status == "stopped" and not completions(group)
    assert [s.status for s in members(group)] == ["succeeded", "cancelled", "cancelled"]


def test_the_clusters_check_decides_a_group_whose_decider_died():
    """A worker killed between its member's end and the decision: no session is active, the check settles it."""
    group = start_group("No-op", params=[{}] * 2, company="CRONUS", then="Group Completion")
    BackgroundSession.objects.filter(group_id=group.id).update(status="succeeded", finished_at=timezone.now())
    assert get_group(group.id).status == "running"  # nobody asked
    assert not BackgroundSession.objects.active().exists()
    assert maintenance.run_once()["groups"] == [group.id]
    assert get_group(group.id).status == "succeeded" and len(completions(group)) == 1
    assert maintenance.run_once()["groups"] == []


RACE = """
import sys, time
import django
django.setup()
from sessions_app import groups
group_id, at = int(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0, at - time.time()))
print(groups.settle(group_id))
"""


def test_two_deciders_at_the_same_instant_start_one_completion():
    """Two processes see the last member end at once: one decides, the other finds it decided."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", SESSIONS_LOG_LEVEL="WARNING")
    for _ in range(5):
        group = start_group("No-op", params=[{}] * 2, company="CRONUS", then="Group Completion")
        BackgroundSession.objects.filter(group_id=group.id).update(status="succeeded", finished_at=timezone.now())
        at = time.time() + 2
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RACE, str(group.id), str(at)], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE
            )
            for _ in range(2)
        ]
        decisions = sorted(p.communicate(timeout=60)[0].decode().strip() for p in procs)
        assert decisions == ["None", "succeeded"]
        assert len(completions(group)) == 1


def test_wait_group_waits_for_the_decision_and_times_out_with_a_clear_error():
    from sessions_app.exceptions import GroupNotFound, GroupWaitTimeout

    group = start_group("No-op", params=[{}], company="CRONUS")
    with pytest.raises(GroupWaitTimeout, match=f"Group {group.id} is still running after 0.2 seconds"):
        wait_group(group.id, timeout=0.2)
    end(members(group)[0])
    assert wait_group(group.id, timeout=5).status == "succeeded"  # no completion to wait for
    with pytest.raises(GroupNotFound):
        get_group(999_999)


# With a real qcluster.


@pytest.mark.integration
def test_twenty_members_then_one_completion_with_twenty_outcomes(cluster):
    group = start_group("Group Member", params=[{}] * 20, company="CRONUS", then="Group Completion")
    group = wait_group(group.id, timeout=WAIT)
    assert group.status == "succeeded"
    completion = BackgroundSession.objects.get(pk=group.completion_id)
    assert completion.status == "succeeded", completion.error
    assert completion.result == {"group": group.id, "members": 20, "statuses": ["succeeded"] * 20}
    assert SessionLog.objects.using("company_cronus").filter(result=f"group {group.id}").count() == 1
    assert all(s.finished_at <= completion.started_at for s in members(group))


@pytest.mark.integration
def test_fifty_groups_whose_two_members_end_together_each_complete_once(cluster):
    """Two workers end a group's two members at the same instant, fifty times: one completion each."""
    started = [
        start_group("Group Member", params=[{"seconds": "0.05"}] * 2, company="CRONUS", then="Group Completion")
        for _ in range(50)
    ]
    for group in started:
        assert wait_group(group.id, timeout=WAIT).status == "succeeded"
    for group in started:
        assert len(completions(group)) == 1
        assert SessionLog.objects.using("company_cronus").filter(result=f"group {group.id}").count() == 1


@pytest.mark.integration
def test_the_worker_ending_the_last_member_killed_at_random_moments_still_completes_once(cluster):
    """The worker of the last member dies before its commit (the member is lost) or right after it (it
    succeeded, by its fence), after a random time: the member is settled, then one completion runs."""
    rng = random.Random(20)
    for _ in range(6):
        outcome = rng.choice(["die", "commit_die"])
        last = {"outcome": outcome, "seconds": f"{rng.uniform(0, 0.3):.3f}"}
        group = start_group(
            "Group Member", params=[{}, last], company="CRONUS", then="Group Completion", policy="always"
        )
        group = wait_group(group.id, timeout=WAIT)
        ended = members(group)[1]
        assert ended.status == ("lost" if outcome == "die" else "succeeded"), (outcome, ended.status, ended.error)
        assert len(completions(group)) == 1
        completion = BackgroundSession.objects.get(pk=group.completion_id)
        assert completion.status == "succeeded" and ended.finished_at <= completion.started_at
        assert sorted(completion.result["statuses"]) == sorted(["succeeded", ended.status])
        assert SessionLog.objects.using("company_cronus").filter(result=f"group {group.id}").count() == 1


@pytest.mark.integration
def test_fail_fast_stops_the_running_members_and_stop_group_stops_the_rest(cluster):
    # Two companies, so that two members run at once on SQLite too (one writer at a time per company).
    member = "Group Member"
    group = start_group(
        members=[
            {"codeunit": member, "params": {"outcome": "fail", "seconds": "0.3"}},
            {"codeunit": member, "params": {"seconds": 60}, "company": "CRONUS UK"},
            {"codeunit": member, "params": {"seconds": 60}},
        ],
        company="CRONUS",
        then="Group Completion",
        policy="fail_fast",
    )
    group = wait_group(group.id, timeout=WAIT)
    assert group.status == "failed" and not completions(group)
    wait_until(lambda: not BackgroundSession.objects.filter(group_id=group.id, status__in=("queued", "running")))
    assert sorted(s.status for s in members(group)) == ["cancelled", "failed", "stopped"] or sorted(
        s.status for s in members(group)
    ) == ["failed", "stopped", "stopped"]

    running = start_group(
        members=[
            {"codeunit": member, "params": {"seconds": 60}},
            {"codeunit": member, "params": {"seconds": 60}, "company": "CRONUS UK"},
            {"codeunit": member, "params": {"seconds": 60}},
        ],
        company="CRONUS",
        then="Group Completion",
    )
    wait_until(lambda: BackgroundSession.objects.filter(group_id=running.id, status="running").count() == 2)
    assert stop_group(running.id)
    wait_until(lambda: not BackgroundSession.objects.filter(group_id=running.id, status__in=("queued", "running")))
    assert get_group(running.id).status == "stopped" and not completions(running)
    assert sorted(s.status for s in members(running)) == ["cancelled", "stopped", "stopped"]


def test_a_groups_page_shows_its_members_progress_and_completion(client, django_user_model):
    group = start_group("No-op", params=[{}] * 2, company="CRONUS", then="Group Completion", name="two")
    first, second = members(group)
    end(first)
    client.force_login(django_user_model.objects.create_superuser("group-admin", password="pw"))
    page = client.get(f"/sessions/groups/{group.id}/").content.decode()
    assert f"Group {group.id}: two" in page and "1 of 2 members ended" in page and 'hx-trigger="every 1s"' in page
    assert f'id="member-{first.id}"' in page and f'id="member-{second.id}"' in page
    end(second)
    page = client.get(f"/sessions/groups/{group.id}/live/").content.decode()
    group = get_group(group.id)
    assert "2 of 2 members ended" in page and f'href="/sessions/{group.completion_id}/"' in page
    session_page = client.get(f"/sessions/{first.id}/").content.decode()
    assert f'member of <a href="/sessions/groups/{group.id}/">group {group.id}</a>' in session_page
    admin_page = client.get(f"/admin/sessions_app/sessiongroup/{group.id}/change/").content.decode()
    assert "2 of 2" in admin_page and f"Session {group.completion_id}" in admin_page


def test_a_clerk_sees_no_group_with_a_member_in_a_company_they_may_not_work_in(client, django_user_model):
    from django.contrib.auth.models import Permission

    from sessions_app.models import CompanyAccess

    clerk = django_user_model.objects.create_user("group-clerk", password="pw")
    clerk.user_permissions.add(Permission.objects.get(codename="view_backgroundsession"))
    CompanyAccess.objects.create(user=clerk, company="CRONUS")
    mine = start_group("No-op", params=[{}], company="CRONUS")
    mixed = start_group(
        members=[{"codeunit": "No-op"}, {"codeunit": "No-op", "company": "CRONUS UK"}], company="CRONUS"
    )
    client.force_login(clerk)
    assert client.get(f"/sessions/groups/{mine.id}/").status_code == 200
    assert client.get(f"/sessions/groups/{mixed.id}/").status_code == 404


def test_the_groups_command_starts_shows_and_stops(capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command("groups", "start", "Insert Row", "--member", "result=a", "--member", "result='b c'", "--then", "No-op")
    group_id = int(capsys.readouterr().out.strip())
    assert [s.params["result"] for s in members(get_group(group_id))] == ["a", "b c"]
    call_command("groups", "show", str(group_id))
    assert f"Group {group_id}: running, 0 of 2 members ended" in capsys.readouterr().out
    call_command("groups", "stop", str(group_id))
    assert get_group(group_id).status == "stopped"
    with pytest.raises(CommandError) as e:
        call_command("groups", "stop", str(group_id))
    assert e.value.returncode == 1
    with pytest.raises(CommandError) as e:
        call_command("groups", "start", "No-op", "--member", "colour=red")
    assert e.value.returncode == 2 and "members[0]" in str(e.value)
    call_command("groups", "--json")
    assert '"status": "stopped"' in capsys.readouterr().out


def test_groups_are_pruned_with_their_sessions_once_they_have_ended():
    group = start_group("No-op", params=[{}], company="CRONUS")
    end(members(group)[0])
    BackgroundSession.objects.update(finished_at=timezone.now() - timedelta(days=200))
    SessionGroup.objects.update(decided_at=timezone.now() - timedelta(days=200))
    maintenance.prune(timedelta(days=90))
    assert not SessionGroup.objects.exists()
