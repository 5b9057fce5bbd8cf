// #/notes: keep notes; administrators also read everyone's (?owner=all) or one
// person's (?owner=<id>). ?source= filters by source. A person whose roles do
// not let them keep notes is told so, in the server's words.

import { ApiError } from "../api.js";
import { busy, el, field, formatTime, uniqueId } from "../dom.js";
import { confirmAction } from "../confirm.js";
import { defineView } from "../router.js";

const PAGE_SIZE = 20;

defineView({
  path: "/notes",
  title: "Notes",
  nav: 10,
  render: (ctx) => new NotesView(ctx),
});

class NotesView {
  #ctx;
  #owner = null; // null: mine; "all"; or a user id (administrators)
  #source = "";
  #cursor = null;
  #load = 0; // bumped per list load: an older page arriving late is dropped

  constructor(ctx) {
    this.#ctx = ctx;
    const { messages } = ctx;
    this.formFeedback = messages.place();
    this.listFeedback = messages.place();
    this.#build();
    this.#apply(ctx.params, false);
  }

  // ------------------------------------------------------------ layout

  #build() {
    const titleInput = el("input", { name: "title", maxlength: 200, required: true });
    const bodyInput = el("textarea", { name: "body", rows: 4, maxlength: 100000 });
    const sourceInput = el("input", { name: "source", maxlength: 512 });
    this.titleInput = titleInput;
    this.noteForm = el(
      "form",
      { novalidate: true },
      ...field("Title", titleInput),
      ...field("Body", bodyInput),
      ...field(
        "Source (optional)",
        sourceInput,
        "The document this note belongs to, e.g. a file name or URL.",
      ),
      ...this.formFeedback.nodes,
      el("button", { type: "submit" }, "Add note"),
    );
    this.noteForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#add(titleInput, bodyInput, sourceInput);
    });
    const newNoteTitle = uniqueId("new-note");
    this.newNote = el(
      "section",
      { class: "card", "aria-labelledby": newNoteTitle },
      el("h2", { id: newNoteTitle }, "New note"),
      this.noteForm,
    );

    this.heading = el("h1", { tabindex: "-1", class: "view-title", id: uniqueId("notes") }, "Your notes");
    this.filterInput = el("input", { name: "source", maxlength: 512 });
    this.showAll = el("button", { type: "button", class: "secondary" }, "Show all");
    this.showAll.addEventListener("click", () => this.#go({ source: "" }));
    const filter = el(
      "form",
      { class: "inline-form", role: "search", "aria-label": "Filter notes" },
      ...field("Filter by source", this.filterInput),
      el("button", { type: "submit", class: "secondary" }, "Filter"),
      this.showAll,
    );
    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#go({ source: this.filterInput.value.trim() });
    });
    const reload = el("button", { type: "button", class: "secondary" }, "Reload notes");
    reload.addEventListener("click", () => this.#reload());
    this.whose = this.#ctx.session.administer ? el("select", { name: "owner" }) : null;
    this.whose?.addEventListener("change", () => this.#go({ owner: this.whose.value }));
    const whoseForm = this.whose
      ? el("div", { class: "inline-form" }, ...field("Whose notes", this.whose))
      : null;

    this.noRole = el("div", { class: "notice", hidden: true });
    this.list = el("ul", { class: "notes", "aria-labelledby": this.heading.id });
    this.empty = el("p", { class: "muted", hidden: true });
    this.more = el("button", { type: "button", class: "secondary more", hidden: true }, "Load more");
    this.more.addEventListener("click", () => this.#page({ reset: false }));
    this.controls = el("div", { class: "toolbar" }, whoseForm, filter, reload);

    this.#ctx.container.append(
      this.newNote,
      el(
        "section",
        { class: "card", "aria-labelledby": this.heading.id },
        el("div", { class: "section-head" }, this.heading),
        this.controls,
        ...this.listFeedback.nodes,
        this.noRole,
        this.list,
        this.empty,
        this.more,
      ),
    );
  }

  // ------------------------------------------------------------ address

  #go(change) {
    const params = { owner: this.#owner ?? "", source: this.#source, ...change };
    if (params.owner === "mine") params.owner = "";
    this.#ctx.navigate("/notes", params);
  }

  /** New query parameters (a filter, another owner): reload the list, keep the form. */
  update(params) {
    this.#apply(params, true);
  }

  #apply(params, announce) {
    const owner = this.#ctx.session.administer ? params.get("owner") : null;
    this.#owner = owner === "all" || /^\d+$/.test(owner ?? "") ? owner : null;
    this.#source = (params.get("source") ?? "").trim();
    this.filterInput.value = this.#source;
    this.showAll.hidden = this.#source === "";
    this.#describeOwner();
    this.#page({ reset: true }).then((ok) => {
      if (!ok || !announce) return;
      const source = this.#source;
      this.listFeedback.ok(source ? `Showing notes with source “${source}”.` : "Showing all notes.");
    });
  }

  async #describeOwner() {
    const options = [el("option", { value: "mine" }, "Mine"), el("option", { value: "all" }, "Everyone's")];
    if (this.#owner === null) this.heading.textContent = "Your notes";
    else if (this.#owner === "all") this.heading.textContent = "Everyone's notes";
    else {
      this.heading.textContent = `Notes of user ${this.#owner}`;
      const option = el("option", { value: this.#owner }, this.heading.textContent);
      options.push(option);
      const name = await this.#ctx.session.username(Number(this.#owner));
      if (name !== null && !this.#ctx.signal.aborted) {
        this.heading.textContent = `Notes of ${name}`;
        option.textContent = this.heading.textContent;
      }
    }
    if (this.whose) {
      this.whose.replaceChildren(...options);
      this.whose.value = this.#owner ?? "mine";
    }
  }

  // ------------------------------------------------------------ list

  async #reload() {
    try {
      // Concurrent on purpose: with an expired access token they share one refresh.
      const [, ok] = await Promise.all([this.#ctx.session.identify(), this.#page({ reset: true })]);
      if (ok) this.listFeedback.ok("Notes reloaded.");
    } catch (error) {
      this.listFeedback.fail(error);
    }
  }

  /** Load the first (reset) or next page; false when it failed (and said why). */
  async #page({ reset }) {
    const load = ++this.#load;
    let page;
    try {
      page = await this.#ctx.api.get("notes", {
        limit: PAGE_SIZE,
        cursor: reset ? null : this.#cursor,
        source: this.#source || null,
        owner: this.#owner,
      });
    } catch (error) {
      if (load !== this.#load || this.#ctx.signal.aborted) return false;
      if (error instanceof ApiError && error.status === 403) this.#cannotKeepNotes(error);
      else this.listFeedback.fail(error);
      return false;
    }
    if (load !== this.#load || this.#ctx.signal.aborted) return false;
    this.#canKeepNotes();
    const items = page.items.map((note) => this.#item(note));
    if (reset) this.list.replaceChildren(...items);
    else this.list.append(...items);
    this.#cursor = page.next_cursor;
    this.more.hidden = this.#cursor === null;
    this.#updateEmpty();
    return true;
  }

  /** 403 on /notes: no role of this account lets it keep notes. Say so, and how to fix it. */
  #cannotKeepNotes(error) {
    const roles = this.#ctx.session.me?.roles ?? [];
    this.newNote.hidden = true;
    this.controls.hidden = true;
    this.list.replaceChildren();
    this.list.hidden = true;
    this.empty.hidden = true;
    this.more.hidden = true;
    this.noRole.replaceChildren(
      el("h2", {}, "You cannot keep notes yet"),
      el(
        "p",
        {},
        roles.length
          ? `None of your roles (${roles.join(", ")}) lets you keep notes.`
          : "Your account has no role, and keeping notes needs one.",
        " ",
        `The server says: “${error.message}”.`,
      ),
      el("p", {}, "Ask an administrator to grant you one of these roles, then log in again."),
    );
    this.noRole.hidden = false;
  }

  #canKeepNotes() {
    this.newNote.hidden = false;
    this.controls.hidden = false;
    this.list.hidden = false;
    this.noRole.hidden = true;
  }

  #updateEmpty() {
    this.empty.textContent = this.#source ? "No notes with this source." : "No notes yet.";
    this.empty.hidden = this.list.childElementCount > 0;
  }

  #shows(note) {
    const me = this.#ctx.session.me;
    const ownerMatches =
      this.#owner === "all" || String(note.owner_id) === String(this.#owner ?? me?.id);
    return ownerMatches && (this.#source === "" || note.source === this.#source);
  }

  // ------------------------------------------------------------ one note

  #item(note) {
    const item = el("li", { class: "note", dataset: { noteId: note.id } });
    item.feedback = this.#ctx.messages.place();
    item.content = el("div");
    item.append(item.content, ...item.feedback.nodes);
    this.#show(item, note);
    return item;
  }

  #show(item, note) {
    const titleId = uniqueId("note-title");
    const owner =
      this.#owner !== null && note.owner_id !== this.#ctx.session.me?.id
        ? el("span", { class: "owner" }, `by user ${note.owner_id}`)
        : null;
    if (owner) {
      this.#ctx.session.username(note.owner_id).then((name) => {
        if (name !== null) owner.textContent = `by ${name}`;
      });
    }
    const meta = el(
      "p",
      { class: "meta" },
      owner,
      note.source ? el("span", { class: "tag" }, `source: ${note.source}`) : null,
      el("time", { datetime: note.updated_at }, formatTime(note.updated_at)),
    );
    const edit = el("button", { type: "button", class: "secondary", "aria-describedby": titleId }, "Edit");
    edit.addEventListener("click", () => this.#edit(item, note));
    const remove = el(
      "button",
      { type: "button", class: "secondary danger", "aria-describedby": titleId },
      "Delete",
    );
    remove.addEventListener("click", () => this.#delete(item, note));
    item.content.replaceChildren(
      el(
        "article",
        { "aria-labelledby": titleId },
        el("h3", { id: titleId }, note.title),
        meta,
        note.body ? el("p", { class: "body" }, note.body) : null,
        el("div", { class: "actions" }, edit, remove),
      ),
    );
  }

  #edit(item, note) {
    const title = el("input", { name: "title", maxlength: 200, required: true });
    const body = el("textarea", { name: "body", rows: 4, maxlength: 100000 });
    const source = el("input", { name: "source", maxlength: 512 });
    title.value = note.title;
    body.value = note.body;
    source.value = note.source ?? "";
    const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");
    cancel.addEventListener("click", () => {
      item.feedback.quiet();
      this.#show(item, note);
      item.querySelector("button").focus();
    });
    const form = el(
      "form",
      { class: "edit", novalidate: true, "aria-label": `Edit note ${note.title}` },
      ...field("Title", title),
      ...field("Body", body),
      ...field("Source", source),
      el("div", { class: "actions" }, el("button", { type: "submit" }, "Save"), cancel),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!title.value.trim()) {
        item.feedback.fail("The title must not be empty.");
        title.focus();
        return;
      }
      try {
        const changed = await busy(form, () =>
          this.#ctx.api.patch(`notes/${note.id}`, {
            title: title.value,
            body: body.value,
            source: source.value.trim() || null,
          }),
        );
        this.#show(item, changed);
        item.querySelector("button").focus();
        item.feedback.ok("Note saved.");
      } catch (error) {
        item.feedback.fail(error);
      }
    });
    item.content.replaceChildren(form);
    title.focus();
  }

  async #delete(item, note) {
    const sure = await confirmAction({
      question: `Delete the note “${note.title}”?`,
      detail: "A deleted note cannot be brought back.",
      confirm: "Delete note",
    });
    if (!sure) return;
    try {
      await this.#ctx.api.delete(`notes/${note.id}`);
    } catch (error) {
      item.feedback.fail(error);
      return;
    }
    item.remove();
    this.#updateEmpty();
    this.listFeedback.ok(`Deleted the note “${note.title}”.`);
    this.heading.focus();
  }

  async #add(titleInput, bodyInput, sourceInput) {
    const title = titleInput.value;
    if (!title.trim()) {
      this.formFeedback.fail("Give the note a title.");
      titleInput.focus();
      return;
    }
    const payload = { title, body: bodyInput.value };
    const source = sourceInput.value.trim();
    if (source) payload.source = source;
    try {
      const note = await busy(this.noteForm, () => this.#ctx.api.post("notes", payload));
      if (this.#shows(note)) {
        this.list.prepend(this.#item(note));
        this.#updateEmpty();
      }
      this.noteForm.reset();
      this.formFeedback.ok("Note added.");
      titleInput.focus();
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) this.#cannotKeepNotes(error);
      else this.formFeedback.fail(error);
    }
  }
}
