// #/audit: the audit trail (GET /audit), newest first, page by page.

import { el, formatTime, uniqueId, viewHeading } from "../dom.js";
import { defineView } from "../router.js";

const PAGE_SIZE = 50;

defineView({
  path: "/audit",
  title: "Audit trail",
  nav: 40,
  available: (session) => session.administer,
  render(ctx) {
    const { api, session, signal, messages } = ctx;
    const feedback = messages.place();
    const heading = viewHeading("Audit trail");
    heading.id = uniqueId("audit");
    const body = el("tbody");
    const more = el("button", { type: "button", class: "secondary more", hidden: true }, "Load older events");
    const reload = el("button", { type: "button", class: "secondary" }, "Reload audit trail");
    const empty = el("p", { class: "muted", hidden: true }, "No events yet.");
    let cursor = null;

    function actorCell(event) {
      if (event.actor_id === null) return el("td", { class: "muted" }, "command line or anonymous");
      const cell = el("td", {}, `user ${event.actor_id}`);
      session.username(event.actor_id).then((name) => {
        if (name !== null) cell.textContent = name;
      });
      return cell;
    }

    function details(detail) {
      if (!detail || Object.keys(detail).length === 0) return "";
      return Object.entries(detail)
        .map(([name, value]) => `${name}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
        .join("; ");
    }

    function row(event) {
      return el(
        "tr",
        { dataset: { eventId: event.id } },
        el("td", {}, el("time", { datetime: event.created_at }, formatTime(event.created_at))),
        el("th", { scope: "row" }, event.action),
        actorCell(event),
        el("td", {}, event.target ?? ""),
        el("td", {}, event.client_ip ?? ""),
        el("td", { class: "detail" }, details(event.detail)),
      );
    }

    async function load({ reset }) {
      const page = await api.get("audit", { limit: PAGE_SIZE, cursor: reset ? null : cursor });
      if (signal.aborted) return;
      const rows = page.items.map(row);
      if (reset) body.replaceChildren(...rows);
      else body.append(...rows);
      cursor = page.next_cursor;
      more.hidden = cursor === null;
      empty.hidden = body.childElementCount > 0;
    }

    async function run(work, done) {
      try {
        await work();
        if (done) feedback.ok(done);
      } catch (error) {
        feedback.fail(error);
      }
    }

    more.addEventListener("click", () => run(() => load({ reset: false })));
    reload.addEventListener("click", () => run(() => load({ reset: true }), "Audit trail reloaded."));

    ctx.container.append(
      el(
        "section",
        { class: "card", "aria-labelledby": heading.id },
        el("div", { class: "section-head" }, heading, reload),
        ...feedback.nodes,
        el(
          "table",
          { class: "grid audit" },
          el("caption", {}, "Authentication and administration events, newest first"),
          el(
            "thead",
            {},
            el(
              "tr",
              {},
              ...["When", "Event", "By", "Target", "Address", "Details"].map((name) =>
                el("th", { scope: "col" }, name),
              ),
            ),
          ),
          body,
        ),
        empty,
        more,
      ),
    );
    run(() => load({ reset: true }));
  },
});
