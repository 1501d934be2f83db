"""Fingerprints of what an import wrote to each record, so that importing the same rows again is cheap.

A record's fingerprint is a hash of the file rows that wrote it, in file order, together with the
file's header and the mapping; the record also keeps how many rows that was and when it was
written. While nobody has changed the record since (its `updated_at` is still that time), rows
that hash to the same fingerprint would write exactly what the record already holds.

Reading a batch, each record is keyed and hashed from its raw cells — the other cells are not
parsed. For a key whose stored record came from n rows, the first rows of the key in this file
are held until the n-th: if those n rows hash to the stored fingerprint they are all counted
(the first as unchanged, the rest as duplicates) without being read; otherwise they are read and
written together, so the record is compared with what the file's rows say once merged, never
written from the first row and then again from a later one. Rows of a key after that, and rows
whose key cannot be read, take the ordinary path.
"""

import hashlib
import json
from collections import Counter
from contextlib import suppress

from tandem.imports.mapping import Plan
from tandem.imports.reading import Record
from tandem.imports.services import BLANK, rows_of
from tandem.imports.values import CellError

# Changing how rows become records invalidates every stored fingerprint: change this with it.
FINGERPRINT_VERSION = b"tandem-import-1"
_HELD, _DONE = 0, 1
# Rows held back at once, at most: past this they are read and written (correct, only not skipped).
HELD_LIMIT = 50_000
_NOT_STORED = (None, 0)


def _signed(digest: bytes) -> int:
    return int.from_bytes(digest, "big", signed=True)


def key_plan(plan: Plan, key_fields: tuple[str, ...]) -> Plan:
    """The plan restricted to the columns, templates and defaults that fill the key fields."""
    return Plan(
        kind=plan.kind,
        mapping=plan.mapping,
        header=plan.header,
        columns=[column for column in plan.columns if column.field in key_fields],
        skipped=plan.skipped,
        templates={target: text for target, text in plan.templates.items() if target in key_fields},
        defaults={target: value for target, value in plan.defaults.items() if target in key_fields},
    )


def mapping_signature(plan: Plan) -> bytes:
    """What besides the cells decides what a row becomes: the kind, the header and the mapping."""
    described = json.dumps(
        {"kind": plan.kind, "header": plan.header, "mapping": plan.mapping.as_dict()}, sort_keys=True, default=str
    )
    return hashlib.blake2b(FINGERPRINT_VERSION + described.encode(), digest_size=16).digest()


class KeyState:
    """One key's rows in this file so far: their hash and count, and the records held back."""

    __slots__ = ("accepted", "count", "fingerprint", "held", "phase", "stored_count", "stored_fingerprint")

    def __init__(self, fingerprint: int, stored_fingerprint: int | None, stored_count: int, phase: int | None = None):
        self.fingerprint = fingerprint
        self.count = 1
        self.stored_fingerprint = stored_fingerprint
        self.stored_count = stored_count
        self.held: list | None = None  # made when a row is held: most keys never hold one
        self.phase = phase if phase is not None else _HELD if stored_count else _DONE
        self.accepted = False  # a valid row of this key was merged (the writer's "seen")


class RowFingerprints:
    """Keys, hashes and held rows of one import run, across its batches."""

    def __init__(self, plan: Plan, *, key_reader, tokens, stored):
        self.signature = mapping_signature(plan)
        self.key_reader = key_reader  # a RowReader for the key columns only
        self.tokens = tokens  # values by field -> [key tokens]
        self.stored = stored  # [first tokens] -> {token: (fingerprint or None, row count)}
        self.keys: dict[tuple, KeyState] = {}
        self.held_rows = 0
        self.stored_now: dict = {}
        self.single_key = self._single_key_column()

    def _single_key_column(self) -> tuple | None:
        """(cell index, reader, token kind) when the key is one column, read as it is (no value map, blank
        words, template or default): its token can be made straight from a cell's text; else None."""
        reader = self.key_reader
        if reader.templates or reader.defaults or reader.blank or len(reader.columns) != 1:
            return None
        index, _, custom_key, target, read, value_map, _ = reader.columns[0]
        if custom_key is not None or value_map:
            return None
        probe = self.tokens({target: "probe"})
        if len(probe) != 1 or probe[0][1] != "probe":
            return None
        return index, read, probe[0][0]

    def _key_tokens(self, records: list) -> list:
        """The key tokens of each record (None: a record that could not be split, or whose key cannot be read)."""
        readable = [record for record in records if type(record) is Record]
        found = None
        if self.single_key is not None:
            found = self._single_key_tokens(readable)
        elif not self.key_reader.templates and not self.key_reader.defaults:
            with suppress(IndexError):  # a short row (not from a source, which gives the header's width)
                found = self._column_key_tokens(readable)
        if found is None:
            found = [self._read_key(record) for record in readable]
        if len(readable) == len(records):
            return found
        found = iter(found)
        return [next(found) if type(record) is Record else None for record in records]

    def _read_key(self, record: Record) -> list | None:
        values, errors = {}, []
        self.key_reader.fill(record.values, values, {}, errors)
        return None if errors else self.tokens(values) or None

    def _single_key_tokens(self, readable: list) -> list:
        """`_key_tokens` for a key of one column: a cell with no quote mark or space at its edges is read by
        the column's reader alone (what RowReader does with such a text); any other the ordinary way."""
        index, read, kind = self.single_key
        found = []
        for record in readable:
            text = record.values[index]
            if text and text[0] not in "' \t" and text[-1] not in " \t":
                try:
                    found.append([(kind, read(text))])
                except CellError:
                    found.append(None)
            else:
                found.append(self._read_key(record))
        return found

    def _column_key_tokens(self, readable: list) -> list:
        """`_key_tokens` reading the key columns alone, a column at a time (see RowReader.read_columns)."""
        reader, tokens_of = self.key_reader, self.tokens
        by_column = {column[0]: [record.values[column[0]] for record in readable] for column in reader.columns}
        read = reader.read_columns(by_column)
        rows = rows_of([(target, outcomes) for _, target, _, outcomes, _ in read], len(readable))
        failed = set()
        for _, target, _, outcomes, odd in read:
            for position in odd:
                del rows[position][target]
                if outcomes[position] is not BLANK:
                    failed.add(position)
        if failed:
            return [None if position in failed else tokens_of(row) or None for position, row in enumerate(rows)]
        return [tokens_of(row) or None for row in rows]

    def _keyed(self, records: list) -> list[tuple]:
        """(record, tokens or None, digest) per record; stored states are fetched for keys new to the run.

        `sort` does the same in its own loop (the hot one of a re-import)."""
        blake = hashlib.blake2b
        signature = self.signature
        keys = self.keys
        keyed, new_keys = [], []
        for record, tokens in zip(records, self._key_tokens(records), strict=True):
            if tokens is None:
                keyed.append((record, None, None))
                continue
            digest = blake(signature + "\x1f".join(record.values).encode(), digest_size=8).digest()
            keyed.append((record, tokens, digest))
            if tokens[0] not in keys:
                new_keys.append(tokens[0])
        self.stored_now = self.stored(new_keys) if new_keys else {}
        return keyed

    def _advance(self, key, digest: bytes) -> KeyState:
        state = self.keys.get(key)
        if state is None:
            fingerprint, count = self.stored_now.get(key, (None, 0))
            state = self.keys[key] = KeyState(_signed(digest), fingerprint, count)
        else:
            state.count += 1
            combined = state.fingerprint.to_bytes(8, "big", signed=True) + digest
            state.fingerprint = _signed(hashlib.blake2b(combined, digest_size=8).digest())
        return state

    def sort(self, records: list, *, final: bool, see) -> tuple[list, Counter]:
        """The records to read and write now (held ones at the row that settles them), and rows settled unread."""
        settled: Counter = Counter()
        to_read = []
        keys = self.keys
        unchanged = 0
        found = self._key_tokens(records)
        new_keys = [tokens[0] for tokens in found if tokens is not None and tokens[0] not in keys]
        stored_now = self.stored_now = self.stored(new_keys) if new_keys else {}
        blake, signature = hashlib.blake2b, self.signature
        for record, tokens in zip(records, found, strict=True):
            if tokens is None:
                to_read.append(record)
                continue
            digest = blake(signature + "\x1f".join(record.values).encode(), digest_size=8).digest()
            key = tokens[0]
            if key not in keys:
                stored_fingerprint, stored_count = stored_now.get(key, _NOT_STORED)
                if stored_count == 1:
                    # A record written from one row, met for the first time: settled or read at once.
                    state = keys[key] = KeyState(_signed(digest), stored_fingerprint, 1, _DONE)
                    if state.fingerprint == stored_fingerprint:
                        unchanged += 1
                        if len(tokens) == 1:
                            state.accepted = True  # what `see` does for a first key
                        else:
                            see(tokens)
                    else:
                        to_read.append(record)
                    continue
            state = self._advance(key, digest)
            if state.phase == _DONE:
                to_read.append(record)
                continue
            if state.held is None:
                state.held = []
            state.held.append((record, tokens))
            self.held_rows += 1
            if state.count < state.stored_count:
                continue
            state.phase = _DONE
            held, state.held = state.held, None
            self.held_rows -= len(held)
            if state.count == state.stored_count and state.fingerprint == state.stored_fingerprint:
                settled["unchanged"] += 1
                settled["duplicate"] += len(held) - 1
                for _, held_tokens in held:
                    see(held_tokens)
            else:
                to_read.extend(held_record for held_record, _ in held)
        if unchanged:
            settled["unchanged"] += unchanged
        if final or self.held_rows > HELD_LIMIT:
            to_read.extend(self.release_all())
        to_read.sort(key=lambda record: record.line)
        return to_read, settled

    def advance_read(self, records: list, rows: list) -> None:
        """Key and hash records already read (`rows`, one per record), when no stored record can match.

        On a first import nothing is held back, so the rows are read once, in full, and their keys
        taken from what was read; only a row with errors has its key columns read again, to tell
        whether its key itself was unreadable (such a row, like a record that could not be split
        into columns, counts for no key).
        """
        blake = hashlib.blake2b
        signature = self.signature
        tokens_of, advance = self.tokens, self._advance
        self.stored_now = {}
        for record, row in zip(records, rows, strict=True):
            if type(record) is not Record:
                continue
            values = row.values
            if row.errors:
                values, errors = {}, []
                self.key_reader.fill(record.values, values, {}, errors)
                if errors:
                    continue
            tokens = tokens_of(values)
            if tokens:
                advance(tokens[0], blake(signature + "\x1f".join(record.values).encode(), digest_size=8).digest())

    def release_all(self) -> list:
        """Records still held at the end of the file (their later rows were not there), in file order."""
        released = []
        for state in self.keys.values():
            if state.held:
                released.extend(state.held)
                state.held = None
                state.phase = _DONE
        self.held_rows = 0
        return [record for record, _ in released]

    def replay(self, records: list) -> list:
        """Rows committed before a restart: rebuild the keys' state; returns the records settled by then."""
        settled = []
        for record, tokens, digest in self._keyed(records):
            if tokens is None:
                settled.append(record)
                continue
            state = self._advance(tokens[0], digest)
            if state.phase == _HELD and state.count < state.stored_count:
                if state.held is None:
                    state.held = []
                state.held.append((record, tokens))
                continue
            # The stored record includes this row: it was written, or settled unread, before the restart.
            state.phase = _DONE
            settled.extend(held_record for held_record, _ in state.held or ())
            state.held = None
            settled.append(record)
        return settled

    def fingerprint(self, key) -> tuple[int, int] | None:
        """(fingerprint, row count) for the record of this key as written now."""
        state = self.keys.get(key)
        return (state.fingerprint, state.count) if state is not None else None
