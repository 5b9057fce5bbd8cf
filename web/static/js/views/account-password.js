// #/account, section "Password": change it; every other session ends (the
// server does that), this one stays.

import { busy, el, field } from "../dom.js";
import { addAccountSection } from "./account.js";

const MIN_LENGTH = 8;

addAccountSection({
  id: "password",
  title: "Password",
  order: 10,
  render(section, { api, feedback, signal }) {
    const current = el("input", { type: "password", name: "current-password", autocomplete: "current-password", required: true });
    const fresh = el("input", { type: "password", name: "new-password", autocomplete: "new-password", required: true, minlength: MIN_LENGTH, maxlength: 1024 });
    const again = el("input", { type: "password", name: "new-password-again", autocomplete: "new-password", required: true });
    const form = el(
      "form",
      { novalidate: true, "aria-label": "Change password" },
      ...field("Current password", current),
      ...field("New password", fresh, `At least ${MIN_LENGTH} characters.`),
      ...field("New password, again", again),
      el("button", { type: "submit" }, "Change password"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!current.value) return feedback.fail("Enter your current password."), current.focus();
      if (fresh.value.length < MIN_LENGTH) return feedback.fail(`The new password needs at least ${MIN_LENGTH} characters.`), fresh.focus();
      if (fresh.value !== again.value) return feedback.fail("The two new passwords differ."), again.focus();
      try {
        await busy(form, () => api.post("account/password", { current_password: current.value, new_password: fresh.value }));
      } catch (error) {
        if (signal.aborted) return;
        feedback.fail(error);
        current.focus();
        return;
      }
      form.reset();
      feedback.ok("Password changed. Every other session has been logged out; this one stays.");
      section.dispatchEvent(new CustomEvent("password-changed", { bubbles: true }));
    });
    section.append(
      el("p", { class: "hint" }, "Changing your password logs out every other device and browser where you are signed in."),
      form,
    );
  },
});
