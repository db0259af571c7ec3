"""The second pass of an import: writing one batch of rows with a fixed number of queries.

Per batch: one query finds the batch's existing prompts, one ``bulk_create`` adds the new ones,
one query finds existing responses, one ``bulk_create`` adds new responses, and with
``--on-duplicate update`` a few ``bulk_update`` calls (one per set of fields) overwrite the rest.
Nothing runs a query per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING

from django.db.models import Model, Q

from ..models import Prompt, Response, Study

if TYPE_CHECKING:
    from .base import ImportResult, ImportRow, PromptRow, ResponseRow

#: ``labeller`` of a label that came from a file without naming who made it.
IMPORTED_LABELLER = "imported"
_OPTIONAL_PROMPT_FIELDS = ("prompt_type", "domain", "language")


class BatchWriter:
    """Writes batches of :class:`~.base.ImportRow` into one study, counting into ``result``."""

    def __init__(
        self, *, study: Study, models: dict[str, int], update: bool, result: ImportResult
    ) -> None:
        self.study = study
        self.models = models
        self.update = update
        self.result = result
        # Prompt ids created or overwritten by this import: a prompt repeated in later batches
        # (XSTest repeats each prompt for five models) is neither "already there" nor updated twice.
        self.touched: set[int] = set()

    def write(self, rows: list[ImportRow]) -> None:
        prompt_ids = self._write_prompts(rows)
        self._write_responses([r for r in rows if r.response is not None], prompt_ids)

    # -- prompts ------------------------------------------------------------------------------
    def _existing_prompts(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        by_source: dict[str, list[str]] = defaultdict(list)
        for source, source_id in keys:
            by_source[source].append(source_id)
        if not by_source:
            return {}
        query = reduce(or_, (Q(source=s, source_id__in=ids) for s, ids in by_source.items()))
        # order_by(): the model's default ordering would join the study table for nothing
        rows = Prompt.objects.filter(study=self.study).filter(query).order_by()
        return {(s, sid): pk for pk, s, sid in rows.values_list("pk", "source", "source_id")}

    def _write_prompts(self, rows: list[ImportRow]) -> dict[tuple[str, str], int]:
        wanted: dict[tuple[str, str], PromptRow] = {}
        for row in rows:
            wanted.setdefault(row.prompt.key, row.prompt)
        ids = self._existing_prompts(wanted)
        new = [self._new_prompt(p) for key, p in wanted.items() if key not in ids]
        created = Prompt.objects.bulk_create(new)
        if any(p.pk is None for p in created):  # backends that cannot return ids
            ids = self._existing_prompts(wanted)
        else:
            ids |= {(p.source, p.source_id): p.pk for p in created}
        new_keys = {(p.source, p.source_id) for p in new}
        self.result.prompts_created += len(new)
        self.touched.update(ids[key] for key in new_keys)

        again = [key for key in wanted if key not in new_keys and ids[key] not in self.touched]
        if self.update:
            _bulk_update_grouped(Prompt, [self._changed_prompt(ids[k], wanted[k]) for k in again])
            self.touched.update(ids[k] for k in again)
            self.result.prompts_updated += len(again)
        else:
            self.touched.update(ids[k] for k in again)  # count each prompt once
            self.result.prompts_unchanged += len(again)
        return ids

    def _new_prompt(self, p: PromptRow) -> Prompt:
        optional = {f: getattr(p, f) for f in _OPTIONAL_PROMPT_FIELDS if getattr(p, f) is not None}
        return Prompt(
            study=self.study,
            text=p.text,
            category=p.category,
            should_refuse=p.should_refuse,
            source=p.source,
            source_id=p.source_id,
            **optional,
        )

    @staticmethod
    def _changed_prompt(pk: int, p: PromptRow) -> tuple[Model, tuple[str, ...]]:
        fields = ["text", "category", "should_refuse"]
        fields += [f for f in _OPTIONAL_PROMPT_FIELDS if getattr(p, f) is not None]
        obj = Prompt(pk=pk, **{f: getattr(p, f) for f in fields})
        return obj, tuple(fields)

    # -- responses ----------------------------------------------------------------------------
    def _write_responses(
        self, rows: list[ImportRow], prompt_ids: dict[tuple[str, str], int]
    ) -> None:
        if not rows:
            return
        keyed = [
            ((prompt_ids[r.prompt.key], self.models[r.response.model], r.response.condition), r)
            for r in rows
        ]
        found = Response.objects.filter(
            prompt_id__in={k[0] for k, _ in keyed}, model_id__in={k[1] for k, _ in keyed}
        ).order_by()
        # text and collection are only needed to update; skip mode reads four small columns
        columns = ["pk", "prompt_id", "model_id", "condition"]
        if self.update:
            columns += ["text", "collection"]
        existing = {(p, m, c): (pk, *rest) for pk, p, m, c, *rest in found.values_list(*columns)}
        new = [self._new_response(key, r.response) for key, r in keyed if key not in existing]
        Response.objects.bulk_create(new)
        self.result.responses_created += len(new)
        again = [(existing[key], r.response) for key, r in keyed if key in existing]
        if not self.update:
            self.result.responses_unchanged += len(again)
            return
        _bulk_update_grouped(Response, [self._changed_response(*old, row) for old, row in again])
        self.result.responses_updated += len(again)

    @staticmethod
    def _new_response(key: tuple[int, int, str], r: ResponseRow) -> Response:
        prompt_id, model_id, condition = key
        return Response(
            prompt_id=prompt_id,
            model_id=model_id,
            condition=condition,
            text=r.text,
            refusal_label=r.refusal_label or "",
            labeller=(r.labeller or IMPORTED_LABELLER) if r.refusal_label else "",
            refusal_style=r.refusal_style or "",
            collection=r.collection or {},
        )

    @staticmethod
    def _changed_response(
        pk: int, old_text: str, old_collection: dict, r: ResponseRow
    ) -> tuple[Model, tuple[str, ...]]:
        values: dict[str, object] = {"text": r.text}
        if r.refusal_label:
            values |= {
                "refusal_label": r.refusal_label,
                "labeller": r.labeller or IMPORTED_LABELLER,
                "refusal_score": None,
            }
        elif r.text != old_text:
            # the old label described the old text; keep no label rather than a wrong one
            values |= {"refusal_label": "", "labeller": "", "refusal_score": None}
        if r.refusal_style is not None:
            values["refusal_style"] = r.refusal_style
        if r.collection:
            values["collection"] = {**(old_collection or {}), **r.collection}
        return Response(pk=pk, **values), tuple(values)


def _bulk_update_grouped(model: type[Model], changes: list[tuple[Model, tuple[str, ...]]]) -> None:
    """``bulk_update`` needs one field list per call: group the objects by the fields they set."""
    groups: dict[tuple[str, ...], list[Model]] = defaultdict(list)
    for obj, fields in changes:
        groups[fields].append(obj)
    for fields, objs in groups.items():
        model.objects.bulk_update(objs, list(fields))
