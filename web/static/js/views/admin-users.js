// One row of the administration's user table, with every action on that user.
// Errors and confirmations of an action appear in its row.

import { busy, el, field } from "../dom.js";
import { confirmAction } from "../confirm.js";

export class UserRow {
  /** @param admin {ctx, roles(): [{name}], showNotes} the view the row belongs to */
  constructor(admin, user) {
    this.admin = admin;
    this.ctx = admin.ctx;
    this.user = user;
    this.feedback = this.ctx.messages.place();
    this.node = el("tr", { dataset: { userId: user.id } });
    this.render();
  }

  get self() {
    return this.ctx.session.me?.id === this.user.id;
  }

  render() {
    const user = this.user;
    const name = user.username;
    const roleList = el(
      "ul",
      { class: "roles", "aria-label": `Roles of ${name}` },
      ...user.roles.map((role) =>
        el(
          "li",
          { class: "tag" },
          role,
          this.#button(
            "×",
            { class: "chip-remove", "aria-label": `Revoke ${role} from ${name}`, title: `Revoke ${role}` },
            () => this.revoke(role),
          ),
        ),
      ),
    );
    const grantable = this.admin.roles().filter((role) => !user.roles.includes(role.name));
    const select = el("select", {}, ...grantable.map((role) => el("option", { value: role.name }, role.name)));
    const [label, control] = field(`Role to grant to ${name}`, select);
    label.className = "visually-hidden";
    const grant = grantable.length
      ? el("form", { class: "inline-form" }, label, control, el("button", { type: "submit", class: "secondary" }, "Grant"))
      : el("span", { class: "muted" }, "has every role");
    grant.addEventListener("submit", (event) => {
      event.preventDefault();
      this.grant(select.value, grant);
    });
    const notes = el("a", { href: this.ctx.href("/notes", { owner: user.id }), "aria-label": `Notes of ${name}` }, "Notes");
    const actions = el(
      "div",
      { class: "actions" },
      notes,
      (this.passwordButton = this.#button(
        "Set password",
        { class: "secondary", "aria-label": `Set password of ${name}`, "aria-expanded": "false" },
        () => this.askPassword(),
      )),
      this.#button("End sessions", { class: "secondary", "aria-label": `End sessions of ${name}` }, () =>
        this.endSessions(),
      ),
      this.#button(
        "Remove second factor",
        { class: "secondary", "aria-label": `Remove second factor of ${name}` },
        () => this.removeSecondFactor(),
      ),
      this.self
        ? null
        : this.#button(
            user.disabled ? "Enable" : "Disable",
            { class: user.disabled ? "secondary" : "secondary danger", "aria-label": `${user.disabled ? "Enable" : "Disable"} ${name}` },
            () => this.setDisabled(!user.disabled),
          ),
    );
    this.passwordSlot = el("div");
    this.node.replaceChildren(
      el(
        "th",
        { scope: "row" },
        name,
        this.self ? el("span", { class: "muted" }, " (you)") : null,
        user.email ? el("span", { class: "email" }, user.email) : null,
      ),
      el("td", {}, user.roles.length ? roleList : el("span", { class: "muted" }, "none")),
      el("td", {}, el("span", { class: user.disabled ? "state off" : "state" }, user.disabled ? "disabled" : "active")),
      el("td", { class: "row-actions" }, grant, actions, this.passwordSlot, ...this.feedback.nodes),
    );
  }

  #button(text, attributes, onclick) {
    return el("button", { type: "button", ...attributes, onclick }, text);
  }

  /** Run one change; on success re-read the user and say `done`. */
  async #change(work, done, { reread = true } = {}) {
    try {
      await work();
      if (reread) {
        this.user = await this.ctx.api.get(`users/${this.user.id}`);
        this.render();
      }
      this.feedback.ok(done);
      return true;
    } catch (error) {
      this.feedback.fail(error);
      return false;
    }
  }

  grant(role, form) {
    const path = `users/${this.user.id}/roles/${encodeURIComponent(role)}`;
    return busy(form, () =>
      this.#change(() => this.ctx.api.put(path), `Granted ${role} to ${this.user.username}.`),
    );
  }

  async revoke(role) {
    const name = this.user.username;
    const sure = await confirmAction({
      question: `Revoke ${role} from ${name}?`,
      detail: `${name} loses what ${role} allows at once, on every device.`,
      confirm: `Revoke ${role}`,
    });
    if (!sure) return;
    const path = `users/${this.user.id}/roles/${encodeURIComponent(role)}`;
    await this.#change(() => this.ctx.api.delete(path), `Revoked ${role} from ${name}.`);
  }

  async setDisabled(disabled) {
    const name = this.user.username;
    if (disabled) {
      const sure = await confirmAction({
        question: `Disable ${name}?`,
        detail: `${name} can no longer log in, and their logins end. You can enable the account again.`,
        confirm: `Disable ${name}`,
      });
      if (!sure) return;
    }
    await this.#change(
      () => this.ctx.api.patch(`users/${this.user.id}`, { disabled }),
      `${disabled ? "Disabled" : "Enabled"} ${name}.`,
    );
  }

  askPassword() {
    const name = this.user.username;
    const input = el("input", { type: "password", autocomplete: "new-password", maxlength: 1024, required: true });
    const cancel = this.#button("Cancel", { class: "secondary" }, () => {
      this.#closePassword();
      this.passwordButton.focus();
    });
    const form = el(
      "form",
      { class: "inline-form", novalidate: true, "aria-label": `New password for ${name}` },
      ...field(`New password for ${name}`, input),
      el("button", { type: "submit" }, "Save password"),
      cancel,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!input.value) {
        this.feedback.fail("Type the new password.");
        input.focus();
        return;
      }
      // PATCH /users/{id} with a password also ends the user's logins (their refresh tokens).
      const done = await busy(form, () =>
        this.#change(
          () => this.ctx.api.patch(`users/${this.user.id}`, { password: input.value }),
          `Set a new password for ${name}; their logins have ended.`,
          { reread: false },
        ),
      );
      if (done) this.#closePassword();
      else input.focus();
    });
    this.passwordSlot.replaceChildren(form);
    this.passwordButton.setAttribute("aria-expanded", "true");
    input.focus();
  }

  #closePassword() {
    this.passwordSlot.replaceChildren();
    this.passwordButton.setAttribute("aria-expanded", "false");
  }

  async endSessions() {
    const name = this.user.username;
    const sure = await confirmAction({
      question: `End every session of ${name}?`,
      detail: `${name} is logged out on every device and must log in again.`,
      confirm: `End sessions of ${name}`,
    });
    if (!sure) return;
    await this.#change(
      () => this.ctx.api.delete(`users/${this.user.id}/sessions`),
      `Ended every session of ${name}.`,
      { reread: false },
    );
  }

  async removeSecondFactor() {
    const name = this.user.username;
    const sure = await confirmAction({
      question: `Remove the second factor of ${name}?`,
      detail: `${name} logs in with the password alone until they enroll again (for a lost phone).`,
      confirm: `Remove second factor of ${name}`,
    });
    if (!sure) return;
    await this.#change(
      () => this.ctx.api.delete(`users/${this.user.id}/mfa`),
      `Removed the second factor of ${name}.`,
      { reread: false },
    );
  }
}
