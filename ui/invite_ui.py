"""Review & send's invitation step: the template editor (saved with the list in the store), a live
preview of any row's exact email, Send a test to me, the choice to email after the gifts, and the
invitation run's progress with Stop. The planning, rendering and run are lib/'s, as the CLI's."""

from __future__ import annotations

import dataclasses
import logging

import pandas as pd
import streamlit as st

from lib.errors import GiftrunError
from lib.invitations import InviteRun, send_test
from lib.invite_plan import PENDING_LINK, carries_gifts, plan_invitations, preview_item
from lib.invite_template import EXAMPLE, Template, TemplateError, build_message, message_id, parse_template, render
from lib.plan import apply_results
from lib.review import Review, review
from lib.runtime import Services
from lib.sending import SendRun
from lib.sheet_rows import spreadsheet_rows
from lib.sources import LoadedList
from lib.store import RunInProgress
from lib.store.invitations import InviteKind

from . import sheets_ui, state
from .text import md, plain

log = logging.getLogger(__name__)
PICK_LIST_MAX = 1000  # rows up to which the preview's row is picked from a dropdown


def _template(svc: Services, loaded: LoadedList) -> Template | None:
    text = st.session_state.get(_key(loaded)) or svc.store.invite_template(loaded.list_key) or EXAMPLE
    try:
        return parse_template(text)
    except TemplateError:
        return None


def _key(loaded: LoadedList) -> str:
    return f"invite-template-{loaded.list_key}"


def with_invitations(svc: Services, loaded: LoadedList, rev: Review) -> Review:
    """The review's frame with what the invitation journal holds for each row (nothing when no
    row carries a gift yet: the plan is left out, 20,000 rows' worth of it on every drawing)."""
    sender, template = svc.sender(), _template(svc, loaded)
    if sender is None or template is None or not carries_gifts(rev.frame):
        return rev
    try:
        plan = plan_invitations(_reviewed(loaded, rev), svc.store, template, sender, checks=rev.checks)
    except GiftrunError:
        return rev
    results = plan.results()
    return dataclasses.replace(rev, frame=apply_results(rev.frame, results)) if results else rev


def _reviewed(loaded: LoadedList, rev: Review) -> LoadedList:
    """The list as the review reads it: the journal's gift ids and links on its rows."""
    return dataclasses.replace(loaded, frame=rev.frame, document=None)


def section(svc: Services, loaded: LoadedList, rev: Review) -> bool:
    """The invitation step; returns whether to email invitations after the gifts are sent."""
    st.subheader("Invitation email")
    sender, mailer = svc.sender(), svc.mailer()
    if sender is None or mailer is None:
        st.caption(
            "Set GIFTRUN_SMTP_URL and GIFTRUN_INVITE_FROM to email each person their gift's link from your own "
            "mailbox (docs/invitations.md)."
        )
        return False
    if svc.mail_catcher is not None:
        st.caption("Demo: invitations go to the built-in outbox (see **Outbox**); nothing leaves this machine.")
    key = _key(loaded)
    if key not in st.session_state:
        st.session_state[key] = svc.store.invite_template(loaded.list_key) or EXAMPLE

    def save() -> None:
        svc.store.save_invite_template(loaded.list_key, InviteKind.INVITATION, st.session_state[key], state.actor())

    st.text_area(
        "Template: 'Subject: …', a blank line, then the body. Placeholders: {first_name} {last_name} {email} "
        "{redemption_url} {sender_name} {message} and any column as {Column}.",
        key=key,
        height=220,
        on_change=save,
    )
    try:
        template = parse_template(st.session_state[key])
        reviewed = _reviewed(loaded, rev)
        plan = plan_invitations(reviewed, svc.store, template, sender, checks=rev.checks)
    except GiftrunError as exc:  # the template, or a column of the user's own named like a result
        st.error(md(exc, limit=1000))
        return False
    _preview(svc, reviewed, template, sender)
    counts = plan.counts()
    st.caption(
        f"{counts['email']} rows would get an invitation now · {counts['already emailed']} already emailed · "
        f"{counts['unknown outcome']} unknown · {counts['template value missing']} missing a template value."
    )
    after = st.checkbox("Email invitations after the gifts are sent", key=f"invite-after-{loaded.list_key}")
    if plan.items and st.button(f"Email {len(plan.items)} invitations now", key="invite-now"):
        start(svc, loaded, template)
    if after or svc.registry.invites(loaded.list_key) is not None:
        progress(svc, loaded.list_key)
    return after


def _pick_row(loaded: LoadedList) -> str | None:
    """The row to preview, by the grid's row number. A short list is a dropdown of its people; a
    long one a number to type: 20,000 options cost the page about a second on every load."""
    frame, rows = loaded.frame, spreadsheet_rows(loaded)  # numbered as the grid
    emails = frame[loaded.cmap.email] if loaded.cmap.email else pd.Series([""] * len(frame))
    if not rows:
        return None
    if len(rows) <= PICK_LIST_MAX:
        shown = emails.astype(str).tolist()
        at = st.selectbox(  # options are positions: a label is found by index, not by searching keys
            "Preview the email for row",
            range(len(rows)),
            format_func=lambda i: plain(f"{rows[i]}: {shown[i]}"),
            key="invite-preview-row",
        )
        return None if at is None else str(frame.index[at])
    number = st.number_input(
        f"Preview the email for row ({rows[0]:,} to {rows[-1]:,})",
        min_value=min(rows),
        max_value=max(rows),
        value=rows[0],
        step=1,
        key="invite-preview-row-number",
    )
    at = rows.index(int(number)) if int(number) in rows else None
    if at is None:
        st.caption(f"Row {int(number):,} holds nobody in this list (a blank or heading row): type another.")
        return None
    st.caption(f"Row {rows[at]:,}: {md(emails.iat[at])}")
    return str(frame.index[at])


def _preview(svc: Services, loaded: LoadedList, template: Template, sender) -> None:
    row = _pick_row(loaded)
    if row is None:
        return
    item = preview_item(loaded, row, template, sender)
    try:
        rendered = render(template, item.values, item.sources)
    except GiftrunError as exc:
        st.warning(md(exc, limit=1000))
        return
    try:
        msg = build_message(
            rendered,
            sender=sender,
            to=item.email,
            to_name=item.name,
            msg_id=message_id(item.gift_request_id, InviteKind.INVITATION, sender),
        )
    except (ValueError, IndexError) as exc:  # Python's email parser on an address like "ana@"
        st.warning(f"This row's email {md(item.email)} cannot be written as an address: pick another row.")
        log.info("invitation preview: %s", exc)
        return
    head = "\n".join(f"{h}: {msg[h]}" for h in ("From", "To", "Subject"))
    if item.values.get("redemption_url") == PENDING_LINK:
        st.caption("This row has no gift yet: its own link takes the place of the placeholder once it is sent.")
    st.text(f"{head}\n\n{rendered.text}")  # as it is: st.text never renders Markdown or links
    with st.expander("HTML part"):
        st.code(rendered.html, language="html")
    c1, c2 = st.columns([3, 1])
    to = c1.text_input("Send a test to me at", value=sender.address, key="invite-test-to")
    if c2.button("Send a test to me", key="invite-test"):
        mailer = svc.mailer()
        try:
            assert mailer is not None
            subject = send_test(mailer, item, template, sender, to.strip())
        except GiftrunError as exc:
            st.error(md(exc, limit=1000))
        else:
            st.success(f"Test sent to {md(to.strip())}: {md(subject)}. Nothing was recorded.")


def start(svc: Services, loaded: LoadedList, template: Template) -> bool:
    """Email in the background, from the list as it is now; True when the run started."""
    try:
        launch(svc, loaded, template, state.actor())
    except RunInProgress as exc:
        st.warning(md(exc, limit=1000))
        return False
    except GiftrunError as exc:
        st.error(md(exc, limit=1000))
        return False
    return True


def launch(
    svc: Services, loaded: LoadedList, template: Template, actor: str, *, chained: bool = False
) -> InviteRun | None:
    """Plan the list as it is now (a sheet read again, an upload with the journal's gifts) and
    start its invitation run; no Streamlit here, so a gift run's after-step can call it."""
    sender, mailer = svc.sender(), svc.mailer()
    if sender is None or mailer is None:
        return None
    sink, current = None, loaded
    if sheets_ui.is_sheet_list(loaded):
        current, sink = sheets_ui.fresh(svc, loaded)
    current = _reviewed(current, review(current, svc.store, None))
    plan = plan_invitations(current, svc.store, template, sender)
    run = InviteRun(
        svc.store,
        mailer,
        loaded.list_key,
        plan.items,
        template,
        sender,
        rate_per_minute=svc.settings.email_rate,
        daily_limit=svc.settings.email_daily_limit,
        sink=sink,
        preamble=plan.results() if sink else (),
        actor=actor,
    )
    return svc.registry.start_invites(run, chained=chained)


def after_gifts(svc: Services, loaded: LoadedList, then=None):
    """The gift run's after-step: its own (a sheet's), then, when the gifts completed and nobody
    pressed Stop, the invitations, waited for: to the person who pressed Send it is one run."""
    template = _template(svc, loaded)

    def finish(run: SendRun) -> None:
        if then is not None:
            then(run)
        if template is not None and run.snapshot().state == "completed" and not run.stopping:
            invites = launch(svc, loaded, template, run.actor, chained=True)
            if invites is not None:
                invites.wait()

    return finish


def progress(svc: Services, list_key: str) -> None:
    """The list's invitation run, found again every second (it may start after the gifts)."""

    @st.fragment(run_every=1.0)
    def _view() -> None:
        run = svc.registry.invites(list_key)
        if run is None:
            return
        p = run.snapshot()
        text = (
            f"Invitations: {p.done}/{p.total} · {p.sent} emailed · {p.refused} refused · {p.failed} not sent "
            f"(safe to retry) · {p.unknown} unknown"
        )
        if p.state == "running":
            st.progress(min(1.0, p.done / max(p.total, 1)), text=text)
            if st.button("Stop invitations", key=f"stop-invites-{run.run_id}"):
                run.stop("Stopped by you.")
        else:
            seen = st.session_state.setdefault("giftrun_seen_invite_runs", set())
            if run.run_id not in seen:  # refresh the whole page once, so the table shows the results
                seen.add(run.run_id)
                state.bump_editor()
                st.rerun(scope="app")
            (st.success if p.state == "completed" and not (p.unknown or p.failed) else st.warning)(
                f"{text} · {'finished' if p.state == 'completed' else 'stopped: ' + md(p.message, limit=300)}."
            )

    _view()
