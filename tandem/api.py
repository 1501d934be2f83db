"""The HTTP API, version 1: django-ninja under /api/v1/.

Integrations authenticate with a bearer token (acting as the token's user, within the token's
own rate budget); the web UI may call it with its signed-in session. Every error is JSON:
422 names the field, 404 the record, 413 the size limit and 429 the token's budget.
"""

import json
import logging
import math

from django.conf import settings
from django.core.exceptions import (
    ObjectDoesNotExist,
    PermissionDenied,
    RequestDataTooBig,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer, SessionAuth

from tandem.attribution.api import router as attribution_router
from tandem.campaigns.api import router as campaigns_router
from tandem.clv.api import router as clv_router
from tandem.contract.api import router as contract_router
from tandem.contract.document import ContractInvalid
from tandem.crm.api import router as crm_router
from tandem.engagement.api import router as engagement_router
from tandem.exports.api import router as exports_router
from tandem.handoff.api import router as handoff_router
from tandem.integrations.models import ApiToken
from tandem.integrations.services import token_authenticate, token_rate_check
from tandem.predict.api import router as predict_router
from tandem.sla.api import router as sla_router

logger = logging.getLogger(__name__)


class RateLimited(Exception):
    def __init__(self, token: ApiToken, retry_after_seconds: int):
        self.token = token
        self.retry_after_seconds = retry_after_seconds
        super().__init__(token.name)


class MalformedBody(ValueError):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedBody(f"the number {text[:30]} is too large")
    return value


def _refuse_constant(name: str):
    raise MalformedBody(f"{name} is not a JSON value")


class JSONBodyParser(Parser):
    """Strict JSON: no NaN or Infinity, which no database column can hold."""

    def parse_body(self, request):
        try:
            return json.loads(request.body, parse_float=_finite_float, parse_constant=_refuse_constant)
        except MalformedBody:
            raise
        except RecursionError:
            raise MalformedBody("the JSON is nested too deeply") from None
        except ValueError as error:
            raise MalformedBody(f"the body is not valid JSON ({error})") from None


class ApiTokenAuth(HttpBearer):
    """`Authorization: Bearer tdm_…`: the request acts as the token's user.

    Public write keys are refused unless `allows_write_keys` (for the event-collection endpoints).
    """

    def __init__(self, *, allows_write_keys: bool = False):
        self.allows_write_keys = allows_write_keys
        super().__init__()

    def authenticate(self, request, token: str):
        api_token = token_authenticate(token)
        if api_token is None:
            request.rejected_token = True
            return None
        wait_seconds = token_rate_check(api_token)
        if wait_seconds > 0:
            raise RateLimited(api_token, wait_seconds)
        if api_token.is_write_key and not self.allows_write_keys:
            raise PermissionDenied("This is a public write key: it may only send events.")
        request.user = api_token.user
        request.api_token = api_token
        return api_token


class BrowserSessionAuth(SessionAuth):
    """The web UI's signed-in session, with Django's CSRF check on unsafe methods.

    Requests without a session are left to the other authenticators rather than refused for
    CSRF, so that a missing token is answered 401 and not 403.
    """

    def __call__(self, request):
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


api = NinjaAPI(
    title="Tandem API",
    version="1",
    description=(
        "The shared record of marketing and sales. Authenticate with "
        "`Authorization: Bearer <token>`; each token has its own rate budget per minute."
    ),
    urls_namespace="api-v1",
    auth=[ApiTokenAuth(), BrowserSessionAuth()],
    parser=JSONBodyParser(),
)


def _error(request, status: int, detail, **headers):
    response = api.create_response(request, {"detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _field_errors(error: DjangoValidationError) -> list[dict]:
    if not hasattr(error, "error_dict"):
        return [{"field": None, "message": message} for message in error.messages]
    return [
        {"field": None if field == "__all__" else field, "message": message}
        for field, messages in error.message_dict.items()
        for message in messages
    ]


def _request_field(location) -> str:
    """The field a request validation error is about: the last name in its location."""
    names = [part for part in location if isinstance(part, str)]
    # The first name is where the value came from (body, query, path); keep it only if alone.
    return names[-1] if len(names) > 1 else (names[0] if names else "body")


@api.exception_handler(DjangoValidationError)
def on_invalid_data(request, error: DjangoValidationError):
    return _error(request, 422, _field_errors(error))


@api.exception_handler(RequestValidationError)
def on_invalid_request(request, error: RequestValidationError):
    details = []
    for problem in error.errors:
        location = list(problem.get("loc", ()))
        # Ninja puts the body's parameter name second ("body", "payload", "email"); drop it.
        if len(location) >= 2 and location[0] == "body":
            location = ["body", *location[2:]]
        message = str(problem.get("msg", "Invalid value.")).removeprefix("Value error, ")
        if location == ["body"]:
            message = "The request body must be a JSON object."
        details.append({"field": _request_field(location), "message": message})
    return _error(request, 422, details)


@api.exception_handler(ContractInvalid)
def on_invalid_contract(request, error: ContractInvalid):
    details = [
        {"field": problem.path or None, "line": problem.line, "message": problem.message} for problem in error.problems
    ]
    return _error(request, 422, details)


@api.exception_handler(HttpError)
def on_http_error(request, error: HttpError):
    if isinstance(error.__cause__, MalformedBody):
        return _error(request, 422, [{"field": "body", "message": f"Malformed JSON: {error.__cause__}."}])
    if isinstance(error, AuthenticationError):
        if getattr(request, "rejected_token", False):
            message = "The API token is not valid or has been revoked."
        else:
            message = "Authentication required: send 'Authorization: Bearer <token>'."
        return _error(request, 401, message, WWW_Authenticate="Bearer")
    return _error(request, error.status_code, str(error))


@api.exception_handler(RateLimited)
def on_rate_limited(request, error: RateLimited):
    limit = error.token.rate_limit_per_minute
    message = f"Rate limit of {limit} requests per minute exceeded for token '{error.token.name}'"
    return _error(request, 429, message, Retry_After=str(error.retry_after_seconds))


@api.exception_handler(Http404)
def on_not_found(request, error: Http404):
    return _error(request, 404, str(error) or "Not found")


@api.exception_handler(ObjectDoesNotExist)
def on_missing_record(request, error: ObjectDoesNotExist):
    return _error(request, 404, "Not found")


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, error: PermissionDenied):
    return _error(request, 403, str(error) or "You may not do this.")


@api.exception_handler(RequestDataTooBig)
def on_body_too_big(request, error: RequestDataTooBig):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    message = f"The request body is larger than the limit of {limit} bytes ({limit // 1024} KB)."
    return _error(request, 413, message)


@api.exception_handler(IntegrityError)
def on_conflict(request, error: IntegrityError):
    # Services check uniqueness first, so this is a concurrent write of the same record.
    logger.warning("API write conflict: %s", error)
    return _error(request, 409, "The change conflicts with another change made at the same time; retry.")


# Before the record routers, so that /people/export is not read as /people/{person_id}.
api.add_router("/", exports_router)
api.add_router("/", crm_router)
api.add_router("/", campaigns_router)
api.add_router("/", contract_router)
api.add_router("/", predict_router)
api.add_router("/", handoff_router)
api.add_router("/", sla_router)
api.add_router("/", attribution_router)
api.add_router("/", clv_router)
api.add_router("/", engagement_router)

# Mounted last, so that it only answers paths no endpoint matched: with JSON, not the HTML 404 page.
unmatched_router = Router(auth=None)


@unmatched_router.api_operation(["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:path}", include_in_schema=False)
def unknown_endpoint(request, path: str):
    raise Http404(f"There is no API endpoint at {request.path}")


api.add_router("/", unmatched_router)
