"""The bundled policy packs load and say what the seeds say; malformed packs are refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from commands.hard_rules import (
    IL_INTRO_COURSE,
    IL_PROJECT_COURSE_PREFIX,
    IL_READ_ONLY_INTRO_COURSE,
    IL_READ_ONLY_ROLE,
    MO_ASSESSOR_COURSE,
)
from ledger.policy.calendar import add_business_days, is_business_day
from ledger.policy.model import PolicyPack, TrainingClause
from ledger.policy.store import BUNDLED_PACKS, PackStore, PolicyPackError, load_pack

BUNDLED = [
    ("MO-606", "2026.1"),
    ("CA-600", "2026.1"),
    ("IL-510", "2026.1"),
    ("IL-510", "2026.2"),
    ("WI-500", "2026.1"),
    ("WI-500", "2026.2"),
]

# Course codes the demo data set records completions of (commands/demo.py), by CoC.
DEMO_COURSES = {
    "MO-606": [MO_ASSESSOR_COURSE, "MO-SECURITY-PRIVACY", "MO-DATA-STANDARDS"],
    "CA-600": ["LA-HMIS-10", "LA-HMIS-509-FIRST-HALF", "LA-HMIS-511"],
    "IL-510": [IL_INTRO_COURSE, f"{IL_PROJECT_COURSE_PREFIX}ES-TH-SH"],
    "WI-500": ["WI-CE-CORE", "WI-HMIS-CE-WORKFLOW-1"],
}


def pack(coc: str, version: str = "2026.1") -> PolicyPack:
    return PackStore().get(coc, version).pack


def training(p: PolicyPack, clause_id: str) -> TrainingClause:
    clause = p.clause(clause_id)
    assert isinstance(clause, TrainingClause)
    return clause


def ancestors(p: PolicyPack, clause_id: str) -> set[str]:
    """Every clause that must be satisfied before ``clause_id``, directly or not."""
    found: set[str] = set()
    todo = list(p.clause(clause_id).after)
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(p.clause(current).after)
    return found


# --- the bundled packs ----------------------------------------------------------------------


@pytest.mark.parametrize(("coc", "version"), BUNDLED)
def test_a_bundled_pack_loads_from_the_file_named_for_its_coc_and_version(
    coc: str, version: str
) -> None:
    loaded = PackStore().get(coc, version)
    assert (loaded.pack.coc, loaded.pack.version) == (coc, version)
    assert Path(loaded.source) == BUNDLED_PACKS / coc / f"{version}.toml"
    assert len(loaded.sha256) == 64


def test_the_store_lists_exactly_the_bundled_versions_of_each_coc() -> None:
    store = PackStore()
    listed = [
        (p.pack.coc, p.pack.version)
        for coc in ("MO-606", "CA-600", "IL-510", "WI-500")
        for p in store.versions(coc)
    ]
    assert listed == BUNDLED


@pytest.mark.parametrize(("coc", "version"), BUNDLED)
def test_each_hmis_role_is_granted_by_one_role_of_a_pack(coc: str, version: str) -> None:
    roles = pack(coc, version).roles
    assert len({r.hmis_role for r in roles}) == len(roles)
    assert len({r.id for r in roles}) == len(roles)


@pytest.mark.parametrize(("coc", "version"), BUNDLED)
def test_every_course_the_demo_completes_is_a_course_of_its_coc_pack(
    coc: str, version: str
) -> None:
    p = pack(coc, version)
    courses = {code for c in p.clauses if isinstance(c, TrainingClause) for code in c.courses}
    assert set(DEMO_COURSES[coc]) <= courses


def test_missouri_assessor_training_is_for_everyone_and_renewed_every_twelve_months() -> None:
    p = pack("MO-606")
    assert p.base == ["training:ce-assessor", "gate:ce-mou"]
    assessor = training(p, "training:ce-assessor")
    assert assessor.courses == [MO_ASSESSOR_COURSE]
    assert assessor.validity is not None
    assert assessor.validity.rolling_months == 12


def test_missouri_hmis_steps_follow_the_approved_access_request() -> None:
    p = pack("MO-606")
    gate = p.clause("gate:ce-mou")
    assert (gate.kind, getattr(gate, "agreement_kind", None)) == ("gate", "ce-mou")
    assert p.clause("milestone:access-request-approved").after == ["training:ce-assessor"]
    for step in (
        "form:user-policy-responsibilities",
        "training:security-privacy",
        "training:data-standards",
    ):
        assert p.clause(step).after == ["milestone:access-request-approved"]
    roles = {r.id: r for r in p.roles}
    assert set(roles["hmis-user"].requires) < set(roles["ce-level-4"].requires)
    assert "training:ce-level-4" in roles["ce-level-4"].requires
    assert roles["hmis-user"].rank < roles["ce-level-4"].rank
    assert p.deadlines.data_partner_entry_business_days == 3
    assert [r.action for r in p.inactivity][-1] == "lock"


LAHSA_ROLES = [  # seed 002 lines 54-56 and 71-77, least access first
    ("housing-provider", "CES_Housing_Provider"),
    ("assessment-only", "CES_Assessments"),
    ("housing-navigator-case-manager", "CES_Standard"),
    ("outreach", "CES_Outreach"),
    ("community-coordinator", "CES_Coordinator"),
    ("community-matcher", "CES_Matcher"),
]

SURVEY = "enter-ces-survey"
NAVIGATION = "provide-housing-navigation-services"
CASE_MANAGEMENT = "provide-case-management-services"
VIEW_PRIORITY = "view-client-prioritization-list"
VIEW_RESOURCES = "view-housing-resource-list"
MANAGE_PRIORITY = "manage-client-prioritization-list"
MANAGE_RESOURCES = "manage-housing-resource-list"
VACANCY = "enter-vacancy-form"
BEFORE_SURVEY = "provide-services-prior-to-ces-survey"
STANDARD = {SURVEY, NAVIGATION, CASE_MANAGEMENT, VIEW_PRIORITY, VIEW_RESOURCES}
LAHSA_PERMISSIONS = {  # seed 002 lines 56-65
    "housing-provider": {VIEW_RESOURCES, MANAGE_RESOURCES, VACANCY},
    "assessment-only": {SURVEY},
    "housing-navigator-case-manager": STANDARD,
    "outreach": STANDARD | {BEFORE_SURVEY},
    "community-coordinator": STANDARD | {MANAGE_PRIORITY, MANAGE_RESOURCES, VACANCY},
    "community-matcher": STANDARD | {MANAGE_PRIORITY, MANAGE_RESOURCES, VACANCY},
}


def test_lahsa_has_the_six_roles_of_the_seed_ranked_from_least_to_most_access() -> None:
    roles = sorted(pack("CA-600").roles, key=lambda r: r.rank)
    assert [(r.id, r.hmis_role) for r in roles] == LAHSA_ROLES
    assert len({r.rank for r in roles}) == 6


def test_lahsa_permissions_are_the_matrix_of_the_seed() -> None:
    roles = pack("CA-600").roles
    assert {r.id: set(r.permissions) for r in roles} == LAHSA_PERMISSIONS
    assert all(len(r.permissions) == len(set(r.permissions)) for r in roles)


def test_lahsa_trainings_by_role_and_hmis_10_brings_its_acknowledgement() -> None:
    p = pack("CA-600")
    requires = {r.id: set(r.requires) for r in p.roles}
    assert requires["housing-provider"] == {"training:hmis-511"}
    assert "training:hmis-509-first-half" in requires["assessment-only"]
    assert "training:hmis-102" in requires["outreach"]
    assert "training:hmis-510" in requires["community-matcher"]
    for role, needs in requires.items():
        if role != "housing-provider":
            assert {"training:hmis-10", "form:hmis10-acknowledgement"} <= needs
    assert p.clause("form:hmis10-acknowledgement").after == ["training:hmis-10"]
    assert "LA-HMIS-509-FULL" in training(p, "training:hmis-509-first-half").courses


def test_lahsa_gates_user_agreement_deadline_and_inactivity() -> None:
    p = pack("CA-600")
    assert set(p.base) == {
        "gate:org-agreement",
        "gate:program-setup-confirmed",
        "form:user-agreement",
    }
    assert getattr(p.clause("gate:org-agreement"), "agreement_kind", None) == "org-agreement"
    assert p.deadlines.provisioning_business_days == 3
    assert [(r.after_days, r.action) for r in p.inactivity] == [(30, "warn"), (90, "lock")]


@pytest.mark.parametrize("version", ["2026.1", "2026.2"])
def test_chicago_steps_are_strictly_ordered(version: str) -> None:
    p = pack("IL-510", version)
    assert ancestors(p, "milestone:proctored-passed") == {
        "training:project-course",
        "training:hmis-intro",
        "milestone:training-requested",
    }
    assert training(p, "training:hmis-intro").courses == [IL_INTRO_COURSE]
    project = training(p, "training:project-course").courses
    assert len(project) == 10
    assert all(code.startswith(IL_PROJECT_COURSE_PREFIX) for code in project)
    assert set(p.base) == {"milestone:training-requested", "form:end-user-agreement"}


@pytest.mark.parametrize("version", ["2026.1", "2026.2"])
def test_chicago_read_only_users_need_only_an_introduction(version: str) -> None:
    p = pack("IL-510", version)
    read_only = next(r for r in p.roles if r.id == IL_READ_ONLY_ROLE)
    assert read_only.hmis_role == IL_READ_ONLY_ROLE
    assert read_only.requires == ["training:hmis-intro-read-only"]
    intro = training(p, "training:hmis-intro-read-only")
    assert set(intro.courses) == {IL_READ_ONLY_INTRO_COURSE, IL_INTRO_COURSE}
    assert intro.after == ["milestone:training-requested"]
    ce = next(r for r in p.roles if r.id == "ce-1474")
    assert "training:housing-resource-specialist" in ce.requires


@pytest.mark.parametrize("version", ["2026.1", "2026.2"])
def test_chicago_project_courses_cost_25_dollars_and_inactive_users_are_deleted(
    version: str,
) -> None:
    p = pack("IL-510", version)
    assert p.fees is not None
    assert (p.fees.course_prefix, p.fees.fee_cents) == (IL_PROJECT_COURSE_PREFIX, 2500)
    assert set(p.fees.payment_methods) == {"training-credit", "invoice"}
    assert [(r.after_days, r.action) for r in p.inactivity] == [(150, "warn"), (180, "delete")]


def test_chicago_2026_2_renames_step_3_from_26_january_and_changes_nothing_else() -> None:
    old, new = pack("IL-510", "2026.1"), pack("IL-510", "2026.2")
    assert new.effective_from == date(2026, 1, 26)
    assert old.effective_from < new.effective_from
    assert "Sample Client Assignment" in new.clause("milestone:proctored-passed").title
    assert "Proctored" in old.clause("milestone:proctored-passed").title
    assert [c.id for c in old.clauses] == [c.id for c in new.clauses]
    ignore = {"version", "effective_from", "title"}
    old_rules, new_rules = old.model_dump(exclude=ignore), new.model_dump(exclude=ignore)
    for rules in (old_rules, new_rules):
        for clause in rules["clauses"]:
            del clause["title"]
    assert old_rules == new_rules


def test_wisconsin_coc_trainings_come_before_the_hmis_ce_workflow() -> None:
    p = pack("WI-500")
    assert p.base == ["training:ce-core"]
    assert "training:ce-core" in ancestors(p, "training:hmis-ce-workflow-1")
    assert ancestors(p, "training:hmis-ce-workflow-2") == {
        "training:ce-core",
        "training:hmis-ce-workflow-1",
    }
    (role,) = p.roles
    assert set(role.requires) == {"training:hmis-ce-workflow-1", "training:hmis-ce-workflow-2"}


def test_wisconsin_follow_ups_need_the_records_of_the_seed() -> None:
    follow_up = pack("WI-500").follow_up
    assert follow_up is not None
    assert follow_up.reached == ["status-update", "current-living-situation", "ce-note"]
    assert follow_up.not_reached == ["ce-note"]


def test_wisconsin_2026_2_renews_the_ce_training_every_24_months_instead_of_12() -> None:
    old, new = pack("WI-500", "2026.1"), pack("WI-500", "2026.2")
    assert new.effective_from == date(2026, 7, 1)
    old_validity = training(old, "training:ce-core").validity
    new_validity = training(new, "training:ce-core").validity
    assert old_validity is not None
    assert new_validity is not None
    assert (old_validity.rolling_months, new_validity.rolling_months) == (12, 24)
    ignore = {"version", "effective_from", "title"}
    old_rules, new_rules = old.model_dump(exclude=ignore), new.model_dump(exclude=ignore)
    old_rules["clauses"][0]["validity"] = new_rules["clauses"][0]["validity"]
    assert old_rules == new_rules


# --- malformed packs --------------------------------------------------------------------------

VALID = """\
coc = "MO-606"
version = "2026.1"
effective_from = 2026-01-01
title = "test pack"
base = ["training:a"]

[[clauses]]
id = "training:a"
kind = "training"
title = "A"
courses = ["A-1"]
{a_extra}

[[clauses]]
id = "{b_id}"
kind = "training"
title = "B"
courses = ["B-1"]
after = ["training:a"]

[[roles]]
id = "user"
hmis_role = "end-user"
rank = 10
requires = [{requires}]
"""


def write(
    tmp_path: Path,
    *,
    coc: str = "MO-606",
    name: str = "2026.1",
    a_extra: str = "",
    b_id: str = "training:b",
    requires: str = '"training:b"',
) -> Path:
    path = tmp_path / coc / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(VALID.format(a_extra=a_extra, b_id=b_id, requires=requires))
    return path


def refusal(path: Path) -> str:
    with pytest.raises(PolicyPackError) as caught:
        load_pack(path)
    message = caught.value.message
    assert str(path) in message
    return message


def test_the_template_of_the_malformed_packs_is_itself_valid(tmp_path: Path) -> None:
    loaded = load_pack(write(tmp_path))
    assert [c.id for c in loaded.pack.clauses] == ["training:a", "training:b"]


def test_a_toml_syntax_error_is_refused_with_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path)
    lines = path.read_text().splitlines()
    broken = lines.index('title = "B"')
    lines[broken] = 'title = "B'
    path.write_text("\n".join(lines) + "\n")
    message = refusal(path)
    assert "not valid TOML" in message
    assert f"line {broken + 1}," in message


def test_an_unknown_clause_in_a_role_is_refused_naming_the_role(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, requires='"training:b", "form:missing"'))
    assert "role user.requires" in message
    assert "form:missing" in message


def test_a_cycle_in_after_is_refused_naming_the_cycle(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, a_extra='after = ["training:b"]'))
    assert "cycle" in message
    assert "training:a -> training:b -> training:a" in message


def test_a_validity_with_rolling_days_and_months_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    extra = "validity = { rolling_days = 365, rolling_months = 12 }"
    message = refusal(write(tmp_path, a_extra=extra))
    assert "clauses[0].training.validity" in message
    assert "exactly one of rolling_days, rolling_months, annual_window" in message


def test_duplicate_clause_ids_are_refused_naming_the_id(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, b_id="training:a", requires='"training:a"'))
    assert "clause ids must be unique: ['training:a']" in message


def test_a_misspelt_field_is_refused_naming_it(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, a_extra="validty = { rolling_months = 12 }"))
    assert "clauses[0].training.validty" in message


def test_a_file_not_named_for_its_version_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, name="2026.9"))
    assert "must be stored as MO-606/2026.1.toml" in message


def test_a_file_in_the_folder_of_another_coc_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, coc="WI-500"))
    assert "must be stored as MO-606/2026.1.toml" in message


# --- business days --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 3, 6), 3, date(2026, 3, 11)),  # Friday, over the weekend
        (date(2026, 11, 25), 3, date(2026, 12, 1)),  # Thanksgiving, Thursday 26 Nov
        (date(2026, 6, 18), 1, date(2026, 6, 22)),  # Juneteenth, Friday 19 June
        (date(2026, 7, 2), 1, date(2026, 7, 6)),  # 4 July is a Saturday: Friday 3 July off
        (date(2026, 12, 30), 2, date(2027, 1, 4)),  # New Year's Day 2027, the next year
        (date(2026, 3, 7), 1, date(2026, 3, 9)),  # from a Saturday
        (date(2026, 3, 6), 0, date(2026, 3, 6)),  # zero days: the start itself
    ],
)
def test_business_days_skip_weekends_and_federal_holidays(
    start: date, days: int, expected: date
) -> None:
    assert add_business_days(start, days) == expected


def test_observed_and_actual_federal_holidays_are_not_business_days() -> None:
    assert not is_business_day(date(2026, 7, 3))
    assert not is_business_day(date(2026, 11, 26))
    assert is_business_day(date(2026, 11, 27))


def test_a_negative_number_of_business_days_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        add_business_days(date(2026, 3, 6), -1)


def test_an_annual_window_on_a_day_not_in_every_year_is_refused() -> None:
    from pydantic import ValidationError

    from ledger.policy.model import AnnualWindow

    with pytest.raises(ValidationError, match="not a day of every year"):
        AnnualWindow(start="02-29", end="03-31")
    with pytest.raises(ValidationError, match="not a day of every year"):
        AnnualWindow(start="04-31", end="05-31")
