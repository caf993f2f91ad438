"""The sign-in gate in front of every page of a shared deployment."""

from __future__ import annotations

import streamlit as st

from lib.access import PasswordGate, domain_allowed
from lib.runtime import Services

from .text import md

SESSION_OK = "giftrun_password_ok"


@st.cache_resource
def _password_gate(_svc: Services, _marker: str) -> PasswordGate:
    return PasswordGate(_svc.settings.app_password)


def _client_address() -> str:
    """The browser's address, to lock out one guessing client; "" when unknown (then the
    lock-out is shared, as it is for everyone behind one proxy)."""
    try:
        address = st.context.ip_address
    except Exception:
        return ""
    return address if isinstance(address, str) else ""


def oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:
        return False


def gate(svc: Services) -> None:
    """Stop the script unless this visitor may use the app. Demo mode needs no sign-in."""
    if svc.demo_mode:
        return
    if oidc_configured():
        if not st.user.is_logged_in:
            st.title("Giftrun")
            st.write("Sign in to send gifts.")
            st.button("Sign in", type="primary", on_click=st.login)
            st.stop()
        email = st.user.get("email")
        # Refused when the provider says the address is unverified. Some providers (Entra ID)
        # send no such claim at all; those are admitted, so pick a provider that verifies.
        if st.user.get("email_verified") is False:
            st.error(f"{md(email or 'This account')} has not verified its email address with the identity provider.")
            st.button("Sign out", on_click=st.logout)
            st.stop()
        if not domain_allowed(email, svc.settings.allowed_domains):
            st.error(
                f"{md(email or 'This account')} is not allowed to use this Giftrun. "
                f"Sign in with an address at {md(', '.join(svc.settings.allowed_domains))}."
            )
            st.button("Sign out", on_click=st.logout)
            st.stop()
        with st.sidebar:
            if not svc.settings.allowed_domains:
                st.warning(
                    "Sign-in admits any account of the identity provider: set GIFTRUN_ALLOWED_DOMAINS "
                    "to your company's domain."
                )
            st.caption(f"Signed in as {md(email)}")
            st.button("Sign out", on_click=st.logout, key="signout")
        st.session_state["giftrun_actor"] = email
        return
    if svc.settings.app_password:
        if st.session_state.get(SESSION_OK):
            return
        st.title("Giftrun")
        with st.form("password"):
            name = st.text_input("Your name or email (for the audit trail)")
            attempt = st.text_input("App password", type="password")
            submitted = st.form_submit_button("Enter", type="primary")
        if submitted:
            result = _password_gate(svc, "gate").check(attempt, client=_client_address())
            if result.ok:
                st.session_state[SESSION_OK] = True
                st.session_state["giftrun_actor"] = (name or "").strip() or "password user"
                st.rerun()
            st.error(result.message)
        st.stop()
    st.sidebar.warning(
        "No sign-in is configured: anyone with this link can send gifts. "
        "Set up [auth] or GIFTRUN_APP_PASSWORD (see README, Deploy for your team)."
    )
    if svc.settings.allowed_domains:
        st.sidebar.warning("GIFTRUN_ALLOWED_DOMAINS only applies to [auth] sign-in, which is not configured.")
