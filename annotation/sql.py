"""The statements of the annotator's hot path, written out as SQL.

Every "next" and "submit" runs about ten statements, and the ORM spends 0.35–1 ms of CPU
building and compiling each one against 0.07–0.16 ms for the same statement sent as text
(measured on PostgreSQL 15, see the README's load section): under a crowd launch that
compilation was most of the app's CPU. So the statements that run on every request live here,
one function each, in SQL that SQLite and PostgreSQL both accept; the rules (quota, balance,
locking order, idempotence) stay in ``services``. Rare paths (entry, return, replays, the
admin) keep using the ORM.

Table and column names come from the models' metadata, so a renamed table fails loudly in
the test suite instead of silently here. Row locks are PostgreSQL's; on SQLite each write
transaction already holds the database's write lock (``BEGIN IMMEDIATE``, see settings).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Model
from django.utils.dateparse import parse_datetime

from studies.models import Pair, Prompt, Response, Scale, Study, StudyItem

from .models import Assignment, Participant, Rating, RatingValue

ASSIGNMENT = Assignment._meta.db_table
ITEM = StudyItem._meta.db_table
PAIR = Pair._meta.db_table
PARTICIPANT = Participant._meta.db_table
PROMPT = Prompt._meta.db_table
RATING = Rating._meta.db_table
RATING_VALUE = RatingValue._meta.db_table
RESPONSE = Response._meta.db_table
SCALE = Scale._meta.db_table
STUDY = Study._meta.db_table
ORDER = '"order"'  # a reserved word in both dialects
SCALE_COLUMNS = [f.attname for f in Scale._meta.concrete_fields]
STUDY_DATETIMES = {f.attname for f in Study._meta.concrete_fields if f.get_internal_type() == "DateTimeField"}
ANSWERED, RESERVED = Assignment.Status.ANSWERED.value, Assignment.Status.RESERVED.value
ATTENTION = StudyItem.Kind.ATTENTION.value


def _cursor() -> Any:
    """Django's cursor, except on PostgreSQL with prepared statements on (settings): there,
    one that binds parameters on the server, so psycopg prepares each statement once a
    connection has run it a few times. Parsing and planning were most of PostgreSQL's CPU on
    this path. Only these statements bind on the server: the ORM elsewhere keeps Django's
    client-side binding, which has no limit of 65,535 parameters for long ``IN`` lists."""
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    # What BaseDatabaseWrapper.cursor() does, with the cursor class swapped.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        connection.validate_thread_sharing()
        raw = ServerBindingCursor(connection.connection)
        return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def _rows(sql: str, params: Sequence[Any]) -> list[tuple]:
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _execute(sql: str, params: Sequence[Any]) -> int:
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _for_update(of: str = "", *, no_key: bool = False) -> str:
    if connection.vendor != "postgresql":
        return ""
    return f" FOR {'NO KEY ' if no_key else ''}UPDATE" + (f" OF {of}" if of else "")


def _marks(n: int) -> str:
    return "(" + ", ".join(["%s"] * n) + ")"


def _excluding(column: str, ids: Iterable[int], *, keep_null: bool = False) -> tuple[str, list[int]]:
    """`` AND column NOT IN (…)`` and its parameters, or nothing for no ids. ``keep_null``
    keeps rows where the column is NULL, which NOT IN alone would drop."""
    ids = list(ids)
    if not ids:
        return "", []
    clause = f"{column} NOT IN {_marks(len(ids))}"
    return f" AND ({column} IS NULL OR {clause})" if keep_null else f" AND {clause}", ids


def _when(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def aware(value: Any) -> datetime | None:
    """A datetime column as read by a raw cursor: aware from PostgreSQL, naive UTC (or text)
    from SQLite, which stores UTC without an offset."""
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def loaded(model: type[Model], field_names: Sequence[str], values: Sequence[Any]) -> Any:
    """An instance as the ORM would load it with ``.only(*field_names)``: the other fields
    stay deferred and are fetched if anything ever reads them."""
    by_name = dict(zip(field_names, values, strict=True))
    # from_db takes the values in the model's field order, whatever order they were selected in.
    names = [f.attname for f in model._meta.concrete_fields if f.attname in by_name]
    if len(names) != len(by_name):
        raise ValueError(f"{model.__name__} has no field(s) {sorted(set(by_name) - set(names))}")
    return model.from_db(connection.alias, names, [by_name[name] for name in names])


# --- who is asking -----------------------------------------------------------------------

PARTICIPANT_FIELDS = ("id", "study_id", "status")


def participant_brief(participant_id: int) -> Participant | None:
    rows = _rows(f"SELECT id, study_id, status FROM {PARTICIPANT} WHERE id = %s", [participant_id])
    return loaded(Participant, PARTICIPANT_FIELDS, rows[0]) if rows else None


# --- claim -------------------------------------------------------------------------------


def study_lock(study_id: int, fields: Sequence[str]) -> Study:
    """The study row, locked until the transaction ends (NO KEY UPDATE: it blocks other
    claims of the study but not inserts that merely reference it, such as new participants)."""
    columns = ", ".join(fields)
    rows = _rows(f"SELECT id, {columns} FROM {STUDY} WHERE id = %s{_for_update(no_key=True)}", [study_id])
    if not rows:
        raise Study.DoesNotExist(f"Study {study_id} does not exist.")
    values = [aware(v) if name in STUDY_DATETIMES else v for name, v in zip(fields, rows[0][1:], strict=True)]
    return loaded(Study, ("id", *fields), (rows[0][0], *values))


def study_swept(study_id: int, now: datetime) -> None:
    _execute(f"UPDATE {STUDY} SET reclaimed_at = %s WHERE id = %s", [_when(now), study_id])


@dataclass(frozen=True)
class HistoryRow:
    assignment_id: int
    item_id: int
    prompt_id: int | None
    kind: str
    status: str
    order: int
    left_is_a: bool | None


def participant_history(participant_id: int) -> tuple[str | None, list[HistoryRow]]:
    """The participant's current status and everything ever handed to them, in one read.
    ``(None, [])`` when the participant no longer exists."""
    rows = _rows(
        f"SELECT p.status, a.id, a.item_id, i.prompt_id, i.kind, a.status, a.{ORDER}, a.left_is_a "
        f"FROM {PARTICIPANT} p LEFT JOIN {ASSIGNMENT} a ON a.participant_id = p.id "
        f"LEFT JOIN {ITEM} i ON i.id = a.item_id WHERE p.id = %s",
        [participant_id],
    )
    if not rows:
        return None, []
    history = [HistoryRow(*row[1:]) for row in rows if row[1] is not None]
    return rows[0][0], history


def assignment_extend(assignment_id: int, expires_at: datetime) -> None:
    _execute(f"UPDATE {ASSIGNMENT} SET expires_at = %s WHERE id = %s", [_when(expires_at), assignment_id])


def expired_reservations_lock(study_id: int, now: datetime) -> list[tuple[int, int, int]]:
    """``(assignment, item, participant)`` of the study's lapsed reservations, locked."""
    return _rows(
        f"SELECT a.id, a.item_id, a.participant_id FROM {ASSIGNMENT} a "
        f"JOIN {ITEM} i ON i.id = a.item_id "
        f"WHERE i.study_id = %s AND a.status = %s AND a.expires_at < %s{_for_update('a')}",
        [study_id, RESERVED, _when(now)],
    )


def next_attention_item(study_id: int, seen_items: set[int]) -> tuple[int, str] | None:
    unseen, ids = _excluding("id", seen_items)
    rows = _rows(
        f"SELECT id, kind FROM {ITEM} WHERE study_id = %s AND kind = %s{unseen} ORDER BY id LIMIT 1",
        [study_id, ATTENTION, *ids],
    )
    return rows[0] if rows else None


def _candidates(
    study_id: int, quota: int, seen_items: set[int], seen_prompts: set[int]
) -> tuple[str, list[Any]]:
    unseen, item_ids = _excluding("id", seen_items)
    new_prompt, prompt_ids = _excluding("prompt_id", seen_prompts, keep_null=True)
    where = f"study_id = %s AND taken < %s AND kind <> %s{unseen}{new_prompt}"
    return where, [study_id, quota, ATTENTION, *item_ids, *prompt_ids]


def next_candidate(
    study_id: int, quota: int, seen_items: set[int], seen_prompts: set[int]
) -> tuple[int, str] | None:
    """``(id, kind)`` of the candidate with the fewest slots taken and, among those, the lowest
    shuffle key: an index walk (studyitem_next_candidate) that stops at the first match."""
    where, params = _candidates(study_id, quota, seen_items, seen_prompts)
    rows = _rows(f"SELECT id, kind FROM {ITEM} WHERE {where} ORDER BY taken, shuffle_key LIMIT 1", params)
    return rows[0] if rows else None


def pair_sides_shown(item_id: int) -> tuple[int, int]:
    """How often response A and response B were put on the left among taken assignments."""
    rows = _rows(
        f"SELECT left_is_a, COUNT(*) FROM {ASSIGNMENT} WHERE item_id = %s AND status IN (%s, %s) "
        "GROUP BY left_is_a",
        [item_id, ANSWERED, RESERVED],
    )
    counts = {bool(left_is_a): n for left_is_a, n in rows if left_is_a is not None}
    return counts.get(True, 0), counts.get(False, 0)


def assignment_insert(
    *, participant_id: int, item_id: int, order: int, now: datetime, expires_at: datetime, left_is_a: bool | None
) -> Assignment:
    values = {
        "participant_id": participant_id,
        "item_id": item_id,
        "order": order,
        "status": RESERVED,
        "reserved_at": now,
        "expires_at": expires_at,
        "answered_at": None,
        "left_is_a": left_is_a,
    }
    columns = ", ".join(ORDER if name == "order" else name for name in values)
    params = [_when(v) if isinstance(v, datetime) else v for v in values.values()]
    rows = _rows(
        f"INSERT INTO {ASSIGNMENT} ({columns}) VALUES ({', '.join(['%s'] * len(values))}) RETURNING id", params
    )
    return loaded(Assignment, ("id", *values), (rows[0][0], *values.values()))


def item_take(item_id: int, shuffle_key: int) -> None:
    _execute(f"UPDATE {ITEM} SET taken = taken + 1, shuffle_key = %s WHERE id = %s", [shuffle_key, item_id])


def participant_reactivate(participant_id: int, now: datetime) -> None:
    _execute(
        f"UPDATE {PARTICIPANT} SET last_seen_at = %s, status = %s WHERE id = %s",
        [_when(now), Participant.Status.ACTIVE.value, participant_id],
    )


# --- what is shown -----------------------------------------------------------------------


@dataclass(frozen=True)
class ItemContent:
    kind: str
    attention_text: str
    prompt_text: str | None
    prompt_image: str
    prompt_audio: str
    response_text: str | None
    response_a_text: str | None
    response_b_text: str | None
    scales: list[Scale]


def item_content(item_id: int) -> ItemContent:
    """Only what is shown: never the model, labels or collection metadata of a response; and
    the scales that apply to the item (pairs: pair and both; otherwise single and both), one
    row per scale."""
    scale_columns = ", ".join(f"sc.{ORDER}" if c == "order" else f"sc.{c}" for c in SCALE_COLUMNS)
    rows = _rows(
        f"SELECT i.kind, i.attention_text, p.text, p.image, p.audio, r.text, ra.text, rb.text, "
        f"{scale_columns} "
        f"FROM {ITEM} i LEFT JOIN {PROMPT} p ON p.id = i.prompt_id "
        f"LEFT JOIN {RESPONSE} r ON r.id = i.response_id "
        f"LEFT JOIN {PAIR} pr ON pr.id = i.pair_id "
        f"LEFT JOIN {RESPONSE} ra ON ra.id = pr.response_a_id "
        f"LEFT JOIN {RESPONSE} rb ON rb.id = pr.response_b_id "
        f"LEFT JOIN {SCALE} sc ON sc.study_id = i.study_id "
        f" AND sc.applies_to IN (%s, CASE WHEN i.kind = %s THEN %s ELSE %s END) "
        f"WHERE i.id = %s ORDER BY sc.{ORDER}, sc.id",
        [Scale.AppliesTo.BOTH.value, StudyItem.Kind.PAIR.value, Scale.AppliesTo.PAIR.value,
         Scale.AppliesTo.SINGLE.value, item_id],
    )
    if not rows:
        raise StudyItem.DoesNotExist(f"Item {item_id} does not exist.")
    kind, attention_text, prompt_text, image, audio, *texts = rows[0][:8]
    scales = [loaded(Scale, SCALE_COLUMNS, row[8:]) for row in rows if row[8] is not None]
    return ItemContent(kind, attention_text, prompt_text, image or "", audio or "", *texts, scales)


def scales(study_id: int, applies_to: Sequence[str]) -> list[Scale]:
    rows = _rows(
        f"SELECT {', '.join(ORDER if c == 'order' else c for c in SCALE_COLUMNS)} FROM {SCALE} "
        f"WHERE study_id = %s AND applies_to IN {_marks(len(applies_to))} ORDER BY {ORDER}, id",
        [study_id, *applies_to],
    )
    return [loaded(Scale, SCALE_COLUMNS, row) for row in rows]


# --- submit ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitTarget:
    """An assignment locked for answering, with what the rules need of its item and study."""

    id: int
    participant_id: int
    item_id: int
    status: str
    reserved_at: datetime
    left_is_a: bool | None
    kind: str
    study_id: int
    expected_values: dict
    study_status: str
    items_per_participant: int
    participant_status: str
    answered_before: int  # the owner's answered regular items, this one not included


def assignment_lock_for_submit(assignment_id: int) -> SubmitTarget | None:
    rows = _rows(
        f"SELECT a.id, a.participant_id, a.item_id, a.status, a.reserved_at, a.left_is_a, i.kind, "
        f"i.study_id, i.expected_values, s.status, s.items_per_participant, p.status, "
        f"(SELECT COUNT(*) FROM {ASSIGNMENT} b JOIN {ITEM} bi ON bi.id = b.item_id "
        f" WHERE b.participant_id = a.participant_id AND b.status = %s AND bi.kind <> %s) "
        f"FROM {ASSIGNMENT} a JOIN {ITEM} i ON i.id = a.item_id JOIN {STUDY} s ON s.id = i.study_id "
        f"JOIN {PARTICIPANT} p ON p.id = a.participant_id WHERE a.id = %s{_for_update('a')}",
        [ANSWERED, ATTENTION, assignment_id],
    )
    if not rows:
        return None
    row = list(rows[0])
    row[4] = aware(row[4])
    row[5] = None if row[5] is None else bool(row[5])
    expected = row[8]
    row[8] = json.loads(expected) if isinstance(expected, str) else (expected or {})
    return SubmitTarget(*row)


def rating_insert(
    *,
    target: SubmitTarget,
    choice: str,
    seconds: float,
    attention_passed: bool | None,
    now: datetime,
    values: Sequence[tuple[Scale, int]],
) -> Rating:
    """The rating and its values, in two statements."""
    fields = {
        "assignment_id": target.id,
        "participant_id": target.participant_id,
        "item_id": target.item_id,
        "choice": choice,
        "seconds": seconds,
        "attention_passed": attention_passed,
        "created_at": now,
    }
    params = [_when(v) if isinstance(v, datetime) else v for v in fields.values()]
    rating_id = _rows(
        f"INSERT INTO {RATING} ({', '.join(fields)}) VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id",
        params,
    )[0][0]
    if values:
        _execute(
            f"INSERT INTO {RATING_VALUE} (rating_id, scale_id, value, scale_min, scale_max) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s)"] * len(values)),
            [p for scale, value in values for p in (rating_id, scale.pk, value, scale.min_value, scale.max_value)],
        )
    return loaded(Rating, ("id", *fields), (rating_id, *fields.values()))


def assignment_answered(assignment_id: int, now: datetime) -> None:
    _execute(
        f"UPDATE {ASSIGNMENT} SET status = %s, answered_at = %s WHERE id = %s",
        [ANSWERED, _when(now), assignment_id],
    )


def participant_answered(
    participant_id: int, now: datetime, *, status: str, completed: bool, attention_failed: bool
) -> None:
    sets = ["last_seen_at = %s", "status = %s"]
    params: list[Any] = [_when(now), status]
    if completed:
        sets.append("completed_at = %s")
        params.append(_when(now))
    if attention_failed:
        sets.append("attention_failures = attention_failures + 1")
    _execute(f"UPDATE {PARTICIPANT} SET {', '.join(sets)} WHERE id = %s", [*params, participant_id])
