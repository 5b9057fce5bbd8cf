// #/account, "Personal access tokens": list, create (the token is shown once),
// delete. A personal token is for scripts (a CI job, Prometheus); it can call
// every route its roles allow except /account, so it cannot make more tokens.

import { confirmAction } from "../confirm.js";
import { busy, el, field, formatTime, uniqueId } from "../dom.js";
import { addAccountSection } from "./account.js";

const DEFAULT_DAYS = 30;

addAccountSection({
  id: "tokens",
  title: "Personal access tokens",
  order: 40,
  render(section, ctx) {
    new TokensSection(section, ctx);
  },
});

class TokensSection {
  constructor(section, ctx) {
    this.ctx = ctx;
    this.feedback = ctx.feedback;
    this.body = el("tbody");
    this.empty = el("p", { class: "hint", hidden: true }, "You have no personal access tokens.");
    this.reveal = el("div", { class: "token-reveal", hidden: true });
    section.append(
      el(
        "p",
        { class: "hint" },
        "For scripts and services that call the API as you, with the roles you choose. " +
          "Send it as Authorization: Bearer <token>. It cannot manage your account.",
      ),
      this.#form(),
      this.reveal,
      el(
        "table",
        { class: "grid tokens" },
        el("caption", {}, "Your personal access tokens"),
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["Name", "Roles", "Created", "Expires", "Last used", "Delete"].map((name) =>
              el("th", { scope: "col" }, name),
            ),
          ),
        ),
        this.body,
      ),
      this.empty,
    );
    this.#load().catch((error) => this.feedback.fail(error));
  }

  #form() {
    const name = el("input", { name: "name", maxlength: 100, required: true, autocomplete: "off" });
    const days = el("input", { name: "expires_in_days", type: "number", min: 1, max: 365, value: DEFAULT_DAYS, required: true });
    const choices = el("div", { class: "choices" });
    for (const role of this.ctx.session.me.roles) {
      const box = el("input", { type: "checkbox", value: role, checked: true, id: uniqueId("token-role") });
      choices.append(el("label", { for: box.id }, box, ` ${role}`));
    }
    const form = el(
      "form",
      { novalidate: true, "aria-label": "New personal access token" },
      ...field("Name", name, "What it is for, e.g. nightly backup."),
      ...field("Expires after (days)", days, "1 to 365."),
      el("fieldset", { class: "choices-set" }, el("legend", {}, "Roles"), choices),
      el("button", { type: "submit" }, "Create token"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const lifetime = Number(days.value);
      if (!name.value.trim()) {
        this.feedback.fail("Give the token a name.");
        name.focus();
        return;
      }
      if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > 365) {
        this.feedback.fail("The lifetime is a whole number of days from 1 to 365.");
        days.focus();
        return;
      }
      const roles = [...choices.querySelectorAll("input:checked")].map((box) => box.value);
      try {
        const created = await busy(form, () =>
          this.ctx.api.post("account/tokens", { name: name.value.trim(), roles, expires_in_days: lifetime }),
        );
        form.reset();
        days.value = String(DEFAULT_DAYS);
        this.#show(created);
        await this.#load();
        this.feedback.ok(`Created token ${created.name}. Copy it now: it is shown only once.`);
      } catch (error) {
        this.feedback.fail(error);
      }
    });
    return form;
  }

  /** The token itself, once: a read-only field to copy from, and a button that copies. */
  #show(created) {
    const value = el("input", { readonly: true, value: created.token, class: "token-value", spellcheck: "false" });
    const copy = el("button", { type: "button", class: "secondary" }, "Copy");
    copy.addEventListener("click", async () => {
      value.select();
      try {
        await navigator.clipboard.writeText(created.token);
        this.feedback.ok("Token copied.");
      } catch {
        this.feedback.ok("Selected: copy it with the keyboard.");
      }
    });
    const done = el("button", { type: "button", class: "secondary" }, "I have copied it");
    done.addEventListener("click", () => {
      this.reveal.replaceChildren();
      this.reveal.hidden = true;
    });
    this.reveal.replaceChildren(
      ...field(`New token "${created.name}" (shown once)`, value),
      el("div", { class: "actions" }, copy, done),
    );
    this.reveal.hidden = false;
    value.focus();
    value.select();
  }

  async #load() {
    const tokens = await this.ctx.api.get("account/tokens");
    if (this.ctx.signal.aborted) return;
    this.body.replaceChildren(...tokens.map((token) => this.#row(token)));
    this.empty.hidden = tokens.length > 0;
  }

  #row(token) {
    const remove = el("button", { type: "button", class: "danger" }, `Delete ${token.name}`);
    remove.addEventListener("click", async () => {
      const sure = await confirmAction({
        question: `Delete the token ${token.name}?`,
        detail: "Anything using it is refused from its next request.",
        confirm: `Delete ${token.name}`,
      });
      if (!sure) return;
      try {
        await this.ctx.api.delete(`account/tokens/${token.id}`);
        await this.#load();
        this.feedback.ok(`Deleted token ${token.name}.`);
      } catch (error) {
        this.feedback.fail(error);
      }
    });
    return el(
      "tr",
      {},
      el("td", {}, token.name),
      el("td", {}, token.roles.length ? token.roles.join(", ") : "none"),
      el("td", {}, formatTime(token.created_at)),
      el("td", {}, formatTime(token.expires_at)),
      el("td", {}, token.last_used_at ? formatTime(token.last_used_at) : "never"),
      el("td", {}, remove),
    );
  }
}
