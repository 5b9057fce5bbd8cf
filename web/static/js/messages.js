// Messages that replace each other.
//
// Every place that reports on an action (a form, a table row, a list) gets a
// Feedback: a role=status line for what went well and a role=alert line for
// what went wrong, both kept in the page while empty so screen readers
// announce changes. All the places of one view belong to one Messages group:
// saying anything anywhere clears every other message of the view, so a stale
// "Note added." never stands beside a new error.

import { el } from "./dom.js";
import { ApiError, SessionEndedError } from "./api.js";

/** The words for an error: the server's own description, else a generic line. */
export function describe(error) {
  if (error instanceof ApiError) return error.message;
  console.error(error);
  return "Something went wrong; see the browser console.";
}

export class Messages {
  #places = new Set();

  /** A new place to report in; put `feedback.nodes` where the action is. */
  place() {
    const feedback = new Feedback(this);
    this.#places.add(feedback);
    return feedback;
  }

  clear() {
    for (const place of this.#places) place.quiet();
  }

  /** Forget places whose nodes left the page (a row re-rendered, a form closed). */
  prune() {
    for (const place of this.#places) if (!place.status.isConnected) this.#places.delete(place);
  }
}

export class Feedback {
  #group;

  constructor(group) {
    this.#group = group;
    this.status = el("p", { class: "status", role: "status" });
    this.alert = el("p", { class: "error", role: "alert" });
    this.nodes = [this.status, this.alert];
  }

  ok(message) {
    this.#group.prune();
    this.#group.clear();
    this.status.textContent = message;
  }

  /** Report an error; a session that ended has already sent the user to the login form. */
  fail(error) {
    if (error instanceof SessionEndedError) return;
    this.#group.prune();
    this.#group.clear();
    this.alert.textContent = typeof error === "string" ? error : describe(error);
  }

  quiet() {
    this.status.textContent = "";
    this.alert.textContent = "";
  }
}
