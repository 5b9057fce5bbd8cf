"""`POST /account/password/forgot`: public, the same 202 for every account name."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from notes_api.accounts import reset
from notes_api.accounts.errors import throttled_error
from notes_api.accounts.schemas import Accepted, ForgotPassword
from notes_api.dependencies import AppSettings, DbSession, MailWaker
from notes_api.request_context import client_ip
from notes_api.routing import PrefixCheckedRoute

router = APIRouter(route_class=PrefixCheckedRoute, tags=["account"])


@router.post(
    "/account/password/forgot",
    status_code=202,
    response_model=Accepted,
    responses={
        404: {"description": "Production without SMTP_URL: no mail can be sent"},
        429: {"description": "Too many requests from this address or for this account name"},
    },
    summary="Ask for a password-reset link by mail",
)
async def forgot_password(
    payload: ForgotPassword,
    request: Request,
    db: DbSession,
    settings: AppSettings,
    wake_sender: MailWaker,
) -> Accepted:
    """Always the same 202, whether or not the account exists (and just as fast)."""
    if settings.smtp_url is None and settings.app_env == "production":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    try:
        await reset.request_reset(
            db, email=payload.email, username=payload.username, client_ip=client_ip(request)
        )
    except reset.ResetThrottledError as throttled:
        raise throttled_error(throttled.retry_after_seconds) from None
    wake_sender()
    return Accepted()
