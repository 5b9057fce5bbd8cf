// #/account: who you are. The account, sessions, second-factor and personal
// token features add their sections here without touching this file's layout:
//
//   import { addAccountSection } from "./account.js";
//   addAccountSection({
//     id: "sessions",            // the section's id, also #/account?section=sessions
//     title: "Sessions",         // its heading (the section is a region named by it)
//     order: 20,                 // position on the page
//     render(section, ctx) {},   // fills `section`; ctx as for a view (router.js)
//   });
//
// Each section gets its own Feedback (ctx.feedback) in the view's Messages
// group, so its messages replace the others'.

import { el, viewHeading } from "../dom.js";
import { defineView } from "../router.js";

const sections = [];

export function addAccountSection(section) {
  sections.push(section);
  sections.sort((a, b) => (a.order ?? 100) - (b.order ?? 100));
}

addAccountSection({
  id: "identity",
  title: "You",
  order: 0,
  render(section, { session }) {
    const me = session.me;
    section.append(
      el(
        "dl",
        { class: "facts" },
        el("dt", {}, "Username"),
        el("dd", {}, me.username),
        el("dt", {}, "Roles"),
        el("dd", {}, me.roles.length ? me.roles.join(", ") : "none"),
      ),
      el(
        "p",
        { class: "hint" },
        "Roles are granted by an administrator; a role granted while you are signed in counts from your next login or token refresh.",
      ),
    );
  },
});

defineView({
  path: "/account",
  title: "Account",
  nav: 20,
  render(ctx) {
    const { container, params } = ctx;
    const heading = viewHeading("Your account");
    container.append(el("section", { class: "card" }, heading));
    for (const definition of sections) {
      const titleId = `account-${definition.id}-title`;
      const section = el(
        "section",
        { class: "card", id: `account-${definition.id}`, "aria-labelledby": titleId },
        el("h2", { id: titleId, tabindex: "-1" }, definition.title),
      );
      container.append(section);
      const feedback = ctx.messages.place();
      definition.render(section, { ...ctx, feedback });
      section.append(...feedback.nodes);
    }
    const wanted = params.get("section");
    if (wanted) queueMicrotask(() => document.getElementById(`account-${wanted}-title`)?.focus());
  },
});
