// #/admin: users (create, roles, password, sessions, second factor, disable,
// their notes) and roles (create, delete). Offered when GET /roles answers 200;
// the role names in every form come from that answer.

import { busy, el, field, uniqueId, viewHeading } from "../dom.js";
import { confirmAction } from "../confirm.js";
import { defineView } from "../router.js";
import { UserRow } from "./admin-users.js";

const USERS_PAGE = 50;

defineView({
  path: "/admin",
  title: "Administration",
  nav: 30,
  available: (session) => session.administer,
  render: (ctx) => new AdminView(ctx),
});

function card(title, ...children) {
  const heading = title.tagName ? title : el("h2", { id: uniqueId("section") }, title);
  heading.id ||= uniqueId("section");
  return el("section", { class: "card", "aria-labelledby": heading.id }, heading, ...children);
}

class AdminView {
  constructor(ctx) {
    this.ctx = ctx;
    this.rows = new Map(); // user id -> UserRow
    this.cursor = null;
    this.usersFeedback = ctx.messages.place();
    this.createFeedback = ctx.messages.place();
    this.rolesFeedback = ctx.messages.place();
    this.#build();
    this.#renderRoles();
    this.#run(this.usersFeedback, () => this.#loadUsers({ reset: true }));
  }

  roles() {
    return this.ctx.session.roles;
  }

  #build() {
    const heading = viewHeading("Administration");
    const reload = el("button", { type: "button", class: "secondary" }, "Reload users and roles");
    reload.addEventListener("click", () =>
      this.#run(this.usersFeedback, () => this.#reload(), "Users and roles reloaded."),
    );
    this.usersBody = el("tbody");
    this.more = el("button", { type: "button", class: "secondary more", hidden: true }, "Load more users");
    this.more.addEventListener("click", () => this.#run(this.usersFeedback, () => this.#loadUsers({ reset: false })));
    const users = card(
      el("h2", {}, "Users"),
      ...this.usersFeedback.nodes,
      el(
        "table",
        { class: "grid users" },
        el("caption", {}, "Users and their roles"),
        el(
          "thead",
          {},
          el("tr", {}, ...["User", "Roles", "Status", "Change"].map((name) => el("th", { scope: "col" }, name))),
        ),
        this.usersBody,
      ),
      this.more,
    );
    this.ctx.container.append(
      card(heading, el("div", { class: "actions" }, reload)),
      users,
      this.#createUserCard(),
      this.#rolesCard(),
    );
  }

  async #run(feedback, work, done) {
    try {
      await work();
      if (done) feedback.ok(done);
    } catch (error) {
      feedback.fail(error);
    }
  }

  async #reload() {
    await Promise.all([this.ctx.session.identify(), this.#loadUsers({ reset: true })]);
    this.#renderRoles();
  }

  async #loadUsers({ reset }) {
    const page = await this.ctx.api.get("users", { limit: USERS_PAGE, cursor: reset ? null : this.cursor });
    if (this.ctx.signal.aborted) return;
    if (reset) {
      this.rows.clear();
      this.usersBody.replaceChildren();
    }
    for (const user of page.items) this.#addRow(user);
    this.cursor = page.next_cursor;
    this.more.hidden = this.cursor === null;
  }

  #addRow(user) {
    this.ctx.session.rememberUsername(user.id, user.username);
    const row = new UserRow(this, user);
    this.rows.set(user.id, row);
    this.usersBody.append(row.node);
  }

  // ------------------------------------------------------------ new user

  #createUserCard() {
    const username = el("input", { name: "username", autocomplete: "off", autocapitalize: "none", spellcheck: "false", required: true });
    const email = el("input", { name: "email", type: "email", autocomplete: "off" });
    const password = el("input", { name: "password", type: "password", autocomplete: "new-password", required: true });
    this.roleChoices = el("div", { class: "choices" });
    const form = el(
      "form",
      { novalidate: true, "aria-label": "New user" },
      ...field("Username", username),
      ...field("Email (optional)", email),
      ...field("Initial password", password, "At least 8 characters. Tell it to the person; they should change it."),
      el("fieldset", { class: "choices-set" }, el("legend", {}, "Roles"), this.roleChoices),
      ...this.createFeedback.nodes,
      el("button", { type: "submit" }, "Create user"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!username.value.trim() || !password.value) {
        this.createFeedback.fail("Give the new user a username and an initial password.");
        (username.value.trim() ? password : username).focus();
        return;
      }
      const roles = [...this.roleChoices.querySelectorAll("input:checked")].map((box) => box.value);
      const payload = { username: username.value.trim(), password: password.value, roles };
      if (email.value.trim()) payload.email = email.value.trim();
      try {
        const user = await busy(form, () => this.ctx.api.post("users", payload));
        if (this.cursor === null) this.#addRow(user);
        form.reset();
        const granted = user.roles.length ? `roles: ${user.roles.join(", ")}` : "no roles";
        this.createFeedback.ok(`Created user ${user.username} (${granted}).`);
        username.focus();
      } catch (error) {
        this.createFeedback.fail(error);
      }
    });
    return card("New user", form);
  }

  // ------------------------------------------------------------ roles

  #rolesCard() {
    this.rolesBody = el("tbody");
    const name = el("input", { name: "name", autocapitalize: "none", spellcheck: "false", maxlength: 64, required: true });
    const description = el("input", { name: "description", maxlength: 255 });
    const form = el(
      "form",
      { novalidate: true, "aria-label": "New role" },
      ...field("Role name", name, "Lower-case letters, digits and dashes, e.g. editor."),
      ...field("Description (optional)", description),
      el("button", { type: "submit" }, "Create role"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!name.value.trim()) {
        this.rolesFeedback.fail("Give the role a name.");
        name.focus();
        return;
      }
      try {
        const role = await busy(form, () =>
          this.ctx.api.post("roles", { name: name.value.trim(), description: description.value.trim() }),
        );
        await this.#rolesChanged();
        form.reset();
        this.rolesFeedback.ok(`Created the role ${role.name}.`);
        name.focus();
      } catch (error) {
        this.rolesFeedback.fail(error);
      }
    });
    return card(
      "Roles",
      el(
        "table",
        { class: "grid roles-table" },
        el("caption", {}, "Roles users can be granted"),
        el("thead", {}, el("tr", {}, ...["Role", "Description", "Change"].map((text) => el("th", { scope: "col" }, text)))),
        this.rolesBody,
      ),
      ...this.rolesFeedback.nodes,
      el("h3", {}, "New role"),
      form,
    );
  }

  #renderRoles() {
    this.rolesBody.replaceChildren(
      ...this.roles().map((role) =>
        el(
          "tr",
          { dataset: { role: role.name } },
          el("th", { scope: "row" }, role.name),
          el("td", {}, role.description),
          el(
            "td",
            {},
            el(
              "button",
              {
                type: "button",
                class: "secondary danger",
                "aria-label": `Delete role ${role.name}`,
                onclick: () => this.#deleteRole(role.name),
              },
              "Delete",
            ),
          ),
        ),
      ),
    );
    this.roleChoices.replaceChildren(
      ...this.roles().map((role) => {
        const box = el("input", { type: "checkbox", name: "roles", value: role.name, id: uniqueId("role") });
        return el("div", { class: "choice" }, box, el("label", { for: box.id }, role.name));
      }),
    );
    for (const row of this.rows.values()) row.render();
  }

  async #rolesChanged() {
    this.ctx.session.setRoles(await this.ctx.api.get("roles"));
    this.#renderRoles();
  }

  async #deleteRole(name) {
    const sure = await confirmAction({
      question: `Delete the role ${name}?`,
      detail: `Every user who has ${name} loses it at once.`,
      confirm: `Delete role ${name}`,
    });
    if (!sure) return;
    try {
      await this.ctx.api.delete(`roles/${encodeURIComponent(name)}`);
      await Promise.all([this.#rolesChanged(), this.#loadUsers({ reset: true })]);
      this.#renderRoles();
      this.rolesFeedback.ok(`Deleted the role ${name}.`);
    } catch (error) {
      this.rolesFeedback.fail(error);
    }
  }
}
