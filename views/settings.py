"""Settings: what the app is connected to (never the key itself), a connection check, the audit trail."""

import pandas as pd
import streamlit as st

from lib.connection import check_connection
from lib.deployment import store_warning
from lib.plain_words import capital, is_automatic, person
from lib.runtime import http_session
from lib.timefmt import shown
from ui import donotgift_ui, state
from ui.audit_table import audit_frame
from ui.text import code, md

svc = state.services()
s = svc.settings
st.title("Settings")
if svc.demo_mode:
    st.write(f"**Mode:** demo — the built-in sandbox at {code(svc.demo.sandbox.url)}.")
else:
    st.write(
        f"**Mode:** live · **&Open key:** {code(s.api_key.masked())} · "
        f"**host:** {code(s.base_url or 'from the key (production US / staging)')}"
    )
st.write(f"**Default campaign:** {code(s.campaign_id or '(none — pick one on Review & send)')}")
info = svc.store.info
st.write(
    f"**Store:** {info.backend} · {code(info.where, limit=1000)}"
    + (" (shared by every host using this database)" if not info.local_file else " (a file on this host)")
)
if (warning := store_warning(info.local_file, declared=s.ephemeral_disk)) is not None:
    st.warning(warning)
secret_state = "configured" if svc.webhook_secret else "not set (webhooks are refused; use polling)"
st.write(f"**Webhook endpoint:** `POST /webhooks/andopen` on this server · secret {secret_state}")

if st.button("Check connection", key="check_connection"):
    result = check_connection(s, http_session(), svc.client() if svc.demo_mode else None)
    (st.success if result.ok else st.error)(md(result.message, limit=1000))
daily = f"{s.daily_limit:,} gifts in any 24 hours, across the team" if s.daily_limit else "none"
st.write(f"**Daily limit (GIFTRUN_DAILY_LIMIT):** {daily}")

me = state.actor()
st.subheader("Runs (audit trail)")
runs = svc.store.runs()
if runs:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Started": shown(r.started_at),
                    "By": capital(person(r.actor, me)),
                    "State": r.state,
                    "Sent": r.counts.get("sent", 0),
                    "Rejected": r.counts.get("rejected", 0),
                    "Unknown": r.counts.get("unknown", 0),
                    "Not sent": r.counts.get("failed", 0),
                    "Cap": "" if r.max_gifts is None else str(r.max_gifts),
                    "Message": r.message or "",
                }
                for r in runs
            ]
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("No runs yet.")

st.subheader("Decisions by people")
log = svc.store.audit_log()
decisions = [d for d in log if not is_automatic(d["actor"])]
automatic = [d for d in log if is_automatic(d["actor"])]
if decisions:
    st.dataframe(audit_frame(decisions, me), hide_index=True, width="stretch")
else:
    st.caption(
        "Look-back overrides, cleared unknown outcomes, caps set on runs, runs the daily limit stopped and "
        "do-not-gift changes are listed here, with who made them."
    )
if automatic:  # what &Open's updates (or the list itself) settled: nobody decided it
    st.subheader("Settled by &Open's updates")
    st.dataframe(audit_frame(automatic, me), hide_index=True, width="stretch")

donotgift_ui.render(svc, state.actor())
