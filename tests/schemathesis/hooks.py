"""Schemathesis hooks for the Sequence API run (run.sh loads them through SCHEMATHESIS_HOOKS).

Schemathesis only knows the spec. These hooks tell it three things the spec says in prose:

1. **Fresh `Idempotency-Key` per request.** The spec's example key is shared by every mutating
   operation, so schemathesis would send one key with many different requests, which the API
   documents as `400 idempotency_key_mismatch` (and a repeated identical request is a *replay*,
   which would hide what the handler does). Before each call a schema-valid key is replaced by a
   new UUID; schema-invalid keys (negative cases) are sent unchanged, so their rejection is still
   tested.

2. **The spec's example account ids are the demo accounts.** The examples in openapi.yaml use
   `acc_01HABC4567` (Chase Checking ••4567, income source), `acc_01HDEF0123` (Emergency Fund,
   pod) and `acc_01HGHI7890` (Amex Gold ••1234, LIABILITY), which are exactly the accounts
   `sequence-server serve --demo` seeds, under fresh ids. The hook looks the demo accounts up by
   name once (GET /accounts) and substitutes their real ids wherever a request carries one of the
   example ids verbatim, so the example-based requests (deposits, transfers, approvals through
   the stateful links) reach the operations' logic instead of stopping at `404`/`400 *_not_found`.
   Generated (random) ids are left alone and still exercise the not-found paths. DELETE paths are
   not substituted, so the run never deletes the demo accounts.

3. **Documented rejections of schema-valid input are not findings.** Check ST202 ("schema-valid
   request rejected") fails any 400 to a request that satisfies the schema. Validation errors in
   this API are always `400 invalid_request` (generated code, from the schema), so:
   - a 400 with any *other* code is an operation rule from the spec's error catalogue
     (`transfer_source_not_found`, `transfer_not_supported`, `insufficient_funds`, ...) that a
     schema cannot express, and is accepted -- except `idempotency_key_mismatch`, which hook 1
     makes impossible, so seeing it would be a real finding;
   - a 400 `invalid_request` is accepted only for the cross-field rules listed in
     ``DOCUMENTED_INVALID_REQUESTS`` below, each quoted from openapi.yaml. Any other
     `invalid_request` to a schema-valid request means the server is stricter than its contract
     and fails the run.
   Dropped failures are counted in the summary ("dropped by `filter_failure`"); set
   ST_SHOW_DROPPED=1 to print each one with its reason. Nothing here
   touches 5xx answers or schema violations in responses.

   The spec's example rule id (`rule_01HXYZ1234`, "Auto-save on deposit") likewise stands for the
   demo's enabled "Paycheck split" rule, but only for reads and `triggerRule`: substituting it in
   updates, deletes or the sandbox's disable switch would disable the rule for the rest of the run.

   For the approval switches, the spec's example transfer id (`txr_01HABC1111`) stands for one of
   two transfers the hook creates above the approval threshold: one for
   `approveSandboxTransfer`, one for `declineSandboxTransfer`, so both reach their 200 answer.

4. **Test data.** Before the first request the hook deposits $1,000,000.00 into Chase Checking
   and into Emergency Fund (the spec's example transfer source) and sets the organization's approval threshold to $2,500.00 (the spec's example), so generated
   transfers have funds to move and the large ones stop at `pending_approval`, which is what
   `approveSandboxTransfer`/`declineSandboxTransfer` need to answer anything but 404/409. (The
   run itself changes the threshold again; that is fine.)

5. **Cards.** The spec's example card id (`card_01HABC4567`) and purchase id (`ctx_01HABC5001`)
   stand for cards the hook issues on Emergency Fund before the first request: one card for the
   reads, purchases and refunds (with a $10,000.00 purchase for the refunds to return money
   from), one for activate/freeze/unfreeze, and one each for report-lost and report-stolen, so
   those final reports never stop the other operations from reaching their 200/201 answers.
   Declines the run provokes on purpose or by chance (`409 card_not_active`,
   `insufficient_funds`, `refund_exceeds_purchase`) are documented answers, not findings.
"""

from __future__ import annotations

import os
import re
import sys
import uuid

import requests
import schemathesis

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:/|-]{1,255}$")

# The spec's example account ids and the names of the demo accounts they stand for.
EXAMPLE_ACCOUNTS = {
    "acc_01HABC4567": "Chase Checking ••4567",
    "acc_01HDEF0123": "Emergency Fund",
    "acc_01HGHI7890": "Amex Gold ••1234",
}

# The spec's example rule id and the demo rule it stands for (reads and triggerRule only).
EXAMPLE_RULES = {
    "rule_01HXYZ1234": "Paycheck split",
}

# Test data prepared before the first request (point 4): $1,000,000.00 in Chase Checking and in
# Emergency Fund, and
# the spec's example approval threshold of $2,500.00.
DEPOSIT_IN_CENTS = 100_000_000
APPROVAL_THRESHOLD_IN_CENTS = 250_000

# (operation label, predicate over (query, error message), where openapi.yaml documents it)
DOCUMENTED_INVALID_REQUESTS = [
    (
        None,  # every cursor-paginated list
        lambda query, message: "after" in query and message.startswith("`after`"),
        "Pagination: 'Cursors are opaque ... A malformed cursor is 400 invalid_request.'",
    ),
    (
        None,  # every list with from/to
        lambda query, message: "from" in query and "to" in query and message.startswith("`from` is later than `to`"),
        "parameter To: '`from` later than `to` is 400 invalid_request.'",
    ),
    (
        None,  # nested rule objects (RuleTrigger, RuleStep, ...) do not declare additionalProperties
        lambda query, message: "is not a known field (expected one of:" in message,
        "Conventions: 'Unknown fields in a JSON request body ... are rejected with 400 "
        "invalid_request'; RuleInput: 'Unknown fields are rejected everywhere in the body, including "
        "inside the nested trigger, step, condition and action objects ... even though those shared "
        "schemas do not declare additionalProperties: false.'",
    ),
    (
        None,  # any string anywhere
        lambda query, message: message.endswith("must not contain the NUL character (U+0000)"),
        "Conventions: 'No string (body field, path or query parameter) may contain the NUL character "
        "(U+0000): it is rejected with 400 invalid_request.'",
    ),
    (
        "POST /sandbox/external-accounts",
        lambda query, message: "apply to LIABILITY accounts only" in message,
        "createSandboxExternalAccount: 'These three fields are allowed only for LIABILITY accounts "
        "(400 invalid_request otherwise)'",
    ),
    (
        "POST /sandbox/webhook-endpoints",
        lambda query, message: message.startswith("url: "),
        "createSandboxWebhookEndpoint: 'Errors: 400 invalid_request (a URL that is not absolute "
        "http(s), has credentials or a fragment, or uses https on a server built without TLS)'",
    ),
]

_id_map: dict[str, str] | None = None
_rule_map: dict[str, str] = {}
# Path -> {example transfer id: a transfer waiting for approval}, for approve and decline.
_approval_maps: dict[str, dict[str, str]] = {}
EXAMPLE_TRANSFER = "txr_01HABC1111"
# Path -> {example card id: a card issued for that path} (point 5), and the example purchase id.
_card_maps: dict[str, dict[str, str]] = {}
EXAMPLE_CARD = "card_01HABC4567"
EXAMPLE_PURCHASE = "ctx_01HABC5001"
CARD_PURCHASE_IN_CENTS = 1_000_000
# Paths whose card gets its own card (they change its status); every other card path uses the
# main card.
OWN_CARD_PATHS = (
    ("/sandbox/cards/{id}/activate", "/sandbox/cards/{id}/freeze", "/sandbox/cards/{id}/unfreeze"),
    ("/sandbox/cards/{id}/report-lost",),
    ("/sandbox/cards/{id}/report-stolen",),
)
MAIN_CARD_PATHS = (
    "/cards/{id}",
    "/cards/{id}/transactions",
    "/sandbox/cards/{id}/purchases",
    "/sandbox/cards/{id}/refunds",
)


def _api(method: str, path: str, **kwargs):
    base_url = os.environ["SEQUENCE_ST_BASE_URL"].rstrip("/")
    headers = {"Authorization": f"ApiKey {os.environ['SEQUENCE_ST_API_KEY']}"}
    response = requests.request(method, f"{base_url}{path}", headers=headers, timeout=10, **kwargs)
    response.raise_for_status()
    return response.json()


def _load_id_map() -> dict[str, str]:
    """Maps the spec's example account ids to the live demo accounts' ids and prepares the test
    data (once per run; see point 4 of the module docstring)."""
    global _id_map
    if _id_map is not None:
        return _id_map
    _id_map = {}
    if not os.environ.get("SEQUENCE_ST_BASE_URL") or not os.environ.get("SEQUENCE_ST_API_KEY"):
        return _id_map
    try:
        by_name = {account["name"]: account["id"] for account in _api("GET", "/accounts")["data"]}
        for example_id, name in EXAMPLE_ACCOUNTS.items():
            if name in by_name:
                _id_map[example_id] = by_name[name]
        rules_by_name = {rule["nickname"]: rule["id"] for rule in _api("GET", "/rules")["data"]}
        for example_id, name in EXAMPLE_RULES.items():
            if name in rules_by_name:
                _rule_map[example_id] = rules_by_name[name]
        for example_id in ("acc_01HABC4567", "acc_01HDEF0123"):  # deposits go to income sources and pods
            if example_id in _id_map:
                _api(
                    "POST",
                    "/sandbox/deposits",
                    json={"account_id": _id_map[example_id], "amount_in_cents": DEPOSIT_IN_CENTS, "origin": "paycheck"},
                )
        _api("PUT", "/sandbox/organization", json={"approval_threshold_in_cents": APPROVAL_THRESHOLD_IN_CENTS})
        source, destination = by_name.get("Emergency Fund"), by_name.get("Taxes")
        if source and destination:
            for path in ("/sandbox/transfers/{id}/approve", "/sandbox/transfers/{id}/decline"):
                waiting = _api(
                    "POST",
                    "/transfers",
                    json={
                        "source_account_id": source,
                        "destination_account_id": destination,
                        "amount_in_cents": APPROVAL_THRESHOLD_IN_CENTS,
                    },
                )["data"]
                if waiting["status"] == "pending_approval":
                    _approval_maps[path] = {EXAMPLE_TRANSFER: waiting["id"]}
        if source:
            _prepare_cards(source)
    except Exception as error:  # noqa: BLE001 - missing test data only lowers coverage
        print(f"hooks.py: cannot prepare the demo data ({error}); coverage will be lower", file=sys.stderr)
    return _id_map


def _issue_card(pod: str) -> str:
    return _api("POST", "/sandbox/cards", json={"account_id": pod, "type": "virtual"})["data"]["id"]


def _prepare_cards(pod: str) -> None:
    """Issues the cards of point 5 on `pod` and makes the purchase the refunds name."""
    main = _issue_card(pod)
    for path in MAIN_CARD_PATHS:
        _card_maps[path] = {EXAMPLE_CARD: main}
    for paths in OWN_CARD_PATHS:
        card = _issue_card(pod)
        for path in paths:
            _card_maps[path] = {EXAMPLE_CARD: card}
    purchase = _api(
        "POST",
        f"/sandbox/cards/{main}/purchases",
        json={"amount_in_cents": CARD_PURCHASE_IN_CENTS, "merchant_name": "Schemathesis"},
    )["data"]
    assert _id_map is not None
    _id_map[EXAMPLE_PURCHASE] = purchase["id"]


def _substitute(value, id_map):
    """`value` with every string equal to an example id replaced, and whether anything changed."""
    if isinstance(value, str):
        return (id_map[value], True) if value in id_map else (value, False)
    if isinstance(value, dict):
        changed = False
        for k in list(value):
            value[k], c = _substitute(value[k], id_map)
            changed |= c
        return value, changed
    if isinstance(value, list):
        changed = False
        for i, item in enumerate(value):
            value[i], c = _substitute(item, id_map)
            changed |= c
        return value, changed
    return value, False


def _header_name(headers, name):
    for key in list(headers or {}):
        if key.lower() == name.lower():
            return key
    return None


@schemathesis.hook
def before_call(context, case, kwargs):
    changed = False
    headers = case.headers
    key = _header_name(headers, "Idempotency-Key")
    if key is not None and isinstance(headers[key], str) and IDEMPOTENCY_KEY.match(headers[key]):
        headers[key] = str(uuid.uuid4())
        changed = True

    id_map = _load_id_map()
    if id_map:
        containers = [case.query, case.body]
        # The demo accounts are never deleted by the run: later operations (and the browser test)
        # use them. DELETE still reaches real accounts through the stateful phase's links
        # (POST /accounts/pods -> DELETE /accounts/{id}).
        if case.method.upper() != "DELETE":
            containers.append(case.path_parameters)
        for container in containers:
            if isinstance(container, (dict, list)):
                _, c = _substitute(container, id_map)
                changed |= c
        is_rule_read = case.method.upper() == "GET"
        is_trigger = case.method.upper() == "POST" and case.operation.path == "/rules/{id}/trigger"
        approval_map = _approval_maps.get(case.operation.path)
        if approval_map and case.method.upper() == "POST" and isinstance(case.path_parameters, dict):
            _, c = _substitute(case.path_parameters, approval_map)
            changed |= c
        card_map = _card_maps.get(case.operation.path)
        if card_map and isinstance(case.path_parameters, dict):
            _, c = _substitute(case.path_parameters, card_map)
            changed |= c
        if _rule_map and (is_rule_read or is_trigger):
            for container in (case.query, case.path_parameters):
                if isinstance(container, dict):
                    _, c = _substitute(container, _rule_map)
                    changed |= c

    if changed:
        # Both edits swap a valid value for another valid value, so the case's validity (positive
        # or negative) is unchanged. Without this, schemathesis sees edited containers, revalidates
        # the case and may relabel a negative case ("missing Authorization") as positive, which
        # re-adds the command line's Authorization header and produces a false ST203.
        # (Private API of the pinned schemathesis 4.32.5; skipped if it ever disappears.)
        sync = getattr(case, "_sync_validated_hashes", None)
        if callable(sync):
            sync()


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """False drops the failure (see point 3 of the module docstring)."""
    if getattr(failure, "code", None) != "ST202" or response is None or response.status_code != 400:
        return True
    try:
        error = response.json()["error"]
        code, message = error["code"], error.get("message", "")
    except Exception:  # noqa: BLE001 - not the error envelope: keep the failure
        return True
    if code == "idempotency_key_mismatch":
        return True
    label = f"{case.method.upper()} {case.operation.path}"
    if code != "invalid_request":
        return _dropped(label, code, message, "operation rule from the error catalogue")
    query = case.query or {}
    for operation, predicate, where in DOCUMENTED_INVALID_REQUESTS:
        if (operation is None or operation == label) and predicate(query, message):
            return _dropped(label, code, message, where)
    return True


def _dropped(label: str, code: str, message: str, why: str) -> bool:
    if os.environ.get("ST_SHOW_DROPPED"):
        print(f"hooks.py: dropped ST202 {label}: 400 {code}: {message} [{why}]", file=sys.stderr)
    return False
