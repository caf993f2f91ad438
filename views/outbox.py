"""Demo only: the built-in mail catcher's outbox, exactly what invitations were "sent" (a real SMTP
server on 127.0.0.1 took them; nothing left this machine)."""

import pandas as pd
import streamlit as st

from lib.timefmt import shown
from ui import state
from ui.text import plain

svc = state.services()
st.title("Outbox")
catcher = svc.mail_catcher
if catcher is None:
    st.info("The outbox exists in demo mode only: invitations go from GIFTRUN_SMTP_URL's mailbox.")
    st.stop()
messages = list(reversed(catcher.messages()))
st.caption(
    f"{len(messages)} emails taken by the demo's SMTP server on 127.0.0.1:{catcher.port}, newest first. "
    "Nothing left this machine."
)
if not messages:
    st.info("No emails yet: on **Review & send**, send a test or email the invitations.")
    st.stop()
st.dataframe(
    pd.DataFrame(
        [{"Received": shown(m.received_at), "To": ", ".join(m.rcpt_tos), "Subject": m.subject} for m in messages]
    ),
    hide_index=True,
    width="stretch",
)
pick = st.selectbox(
    "Open an email",
    range(len(messages)),
    format_func=lambda i: plain(f"{', '.join(messages[i].rcpt_tos)} — {messages[i].subject}"),
    key="outbox_pick",
)
chosen = messages[pick]
parsed = chosen.parsed()
head = "\n".join(f"{h}: {parsed[h]}" for h in ("From", "To", "Subject", "Date", "Message-ID"))
st.text(f"{head}\n\n{chosen.part('plain')}")  # as it is: never rendered as Markdown
with st.expander("HTML part"):
    st.code(chosen.part("html"), language="html")
with st.expander("The message as the server received it"):
    st.code(chosen.data.decode("utf-8", "replace"), language=None)
