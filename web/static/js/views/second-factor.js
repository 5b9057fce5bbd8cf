// #/account, section "Second factor": set up TOTP (QR code, then a first code),
// see the recovery codes once (with a copy button), remove it with a code, and
// log in again with it when a role needs it (step-up).
//
// The QR code comes from the server as SVG text. The page never turns a string
// into markup (Trusted Types forbid it), so the SVG is rebuilt here from its
// one path: segno draws the whole code as a single <path d="...">.

import { StepUpRequiredError } from "../api.js";
import { busy, el, field } from "../dom.js";
import { addAccountSection } from "./account.js";
import { showLogin } from "./login.js";

const SVG = "http://www.w3.org/2000/svg";

/** An <svg> element with the QR code of `qrSvg` (segno's output), or null if it is not one. */
export function qrCode(qrSvg, label) {
  const size = /<svg[^>]*\swidth="(\d+)"[^>]*\sheight="(\d+)"/.exec(qrSvg);
  const path = /<path[^>]*\stransform="(scale\(\d+\))"[^>]*\sd="([MmHhVvZz0-9.\s-]+)"/.exec(qrSvg);
  if (!size || !path) return null;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", size[1]);
  svg.setAttribute("height", size[2]);
  svg.setAttribute("viewBox", `0 0 ${size[1]} ${size[2]}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const background = document.createElementNS(SVG, "rect");
  background.setAttribute("width", "100%");
  background.setAttribute("height", "100%");
  background.setAttribute("fill", "#fff");
  const lines = document.createElementNS(SVG, "path");
  lines.setAttribute("transform", path[1]);
  lines.setAttribute("stroke", "#000");
  lines.setAttribute("d", path[2]);
  svg.append(background, lines);
  return svg;
}

/** {totp, recovery_codes_left} from GET /account, or null when this server has no such route. */
async function mfaState(api) {
  try {
    return (await api.get("account")).mfa ?? null;
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

class SecondFactorSection {
  constructor(section, ctx) {
    this.section = section;
    this.ctx = ctx;
    this.body = el("div");
    section.append(this.body);
  }

  async load() {
    let state;
    try {
      state = await mfaState(this.ctx.api);
    } catch (error) {
      this.ctx.feedback.fail(error);
      return;
    }
    if (this.ctx.signal.aborted) return;
    this.show(state);
  }

  /** `state` null: unknown (no GET /account), so both actions are offered. */
  show(state) {
    const parts = [];
    const { session } = this.ctx;
    if (session.stepUpNeeded) {
      parts.push(
        el("p", { class: "notice" }, session.stepUpNeeded),
        el(
          "button",
          { type: "button", onclick: () => this.logInAgain() },
          "Log in again with the second factor",
        ),
      );
    }
    if (state === null || !state.totp) parts.push(this.enrollStart(state === null));
    if (state === null || state.totp) parts.push(this.removeForm(state));
    this.body.replaceChildren(...parts);
  }

  async logInAgain() {
    await this.ctx.session.logout();
    showLogin("Log in with your password, then the code from your authenticator app.");
  }

  enrollStart(unknown) {
    const button = el("button", { type: "button" }, "Set up a second factor");
    button.addEventListener("click", () => this.begin(button));
    return el(
      "div",
      {},
      el(
        "p",
        { class: "hint" },
        unknown
          ? "A second factor (a code from an authenticator app) protects your account even if your password leaks."
          : "No second factor yet. A code from an authenticator app protects your account even if your password leaks.",
      ),
      button,
    );
  }

  async begin(button) {
    let enrollment;
    try {
      button.disabled = true;
      enrollment = await this.ctx.api.post("account/mfa/totp");
    } catch (error) {
      button.disabled = false;
      if (error.status === 409) {
        this.show({ totp: true, recovery_codes_left: null });
        this.ctx.feedback.fail("A second factor is already set up. Remove it first to set up another.");
        return;
      }
      this.ctx.feedback.fail(error);
      return;
    }
    this.ctx.feedback.quiet();
    this.showEnrollment(enrollment);
  }

  showEnrollment(enrollment) {
    const qr = qrCode(enrollment.qr_svg, "QR code to scan with your authenticator app");
    const code = el("input", {
      autocomplete: "one-time-code",
      inputmode: "numeric",
      spellcheck: "false",
      required: true,
    });
    const form = el(
      "form",
      { novalidate: true, class: "stack" },
      ...field("Code from the app", code, "The 6-digit code the app now shows for notes-api."),
      el("button", { type: "submit" }, "Confirm"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!code.value.trim()) {
        this.ctx.feedback.fail("Enter the code the app shows.");
        code.focus();
        return;
      }
      let answer;
      try {
        answer = await busy(form, () =>
          this.ctx.api.post("account/mfa/totp/confirm", { code: code.value.trim() }),
        );
      } catch (error) {
        this.ctx.feedback.fail(error.status === 400 ? "Wrong code; try the current one." : error);
        code.focus();
        code.select();
        return;
      }
      this.showRecoveryCodes(answer.recovery_codes);
    });
    this.body.replaceChildren(
      el("p", {}, "Scan this QR code with an authenticator app, then enter the code it shows."),
      qr ?? el("p", { class: "hint" }, "(The QR code cannot be shown; type the key instead.)"),
      el("p", {}, "Or type this key into the app: ", el("code", { class: "secret" }, enrollment.secret)),
      form,
    );
    code.focus();
  }

  showRecoveryCodes(codes) {
    const list = el("ol", { class: "recovery-codes" }, ...codes.map((c) => el("li", {}, el("code", {}, c))));
    const copy = el("button", { type: "button", class: "secondary" }, "Copy recovery codes");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(codes.join("\n"));
        this.ctx.feedback.ok("Recovery codes copied.");
      } catch {
        window.getSelection()?.selectAllChildren(list);
        this.ctx.feedback.fail("Copying is not allowed here: the codes are selected, copy them yourself.");
      }
    });
    const done = el("button", { type: "button" }, "I have saved them");
    done.addEventListener("click", () => {
      this.ctx.feedback.quiet();
      this.show({ totp: true, recovery_codes_left: codes.length });
    });
    this.body.replaceChildren(
      el("p", {}, "The second factor is on. Save these recovery codes somewhere safe: each logs you in once if you lose your phone. They are shown only now."),
      list,
      copy,
      done,
    );
    this.ctx.feedback.ok("Second factor set up.");
    copy.focus();
  }

  removeForm(state) {
    const code = el("input", { autocomplete: "one-time-code", spellcheck: "false", required: true });
    const left = state?.recovery_codes_left;
    const form = el(
      "form",
      { novalidate: true, class: "stack" },
      el(
        "p",
        {},
        state === null
          ? "If a second factor is set up, you can remove it with a current code."
          : `Your second factor is on${typeof left === "number" ? ` (${left} recovery codes left)` : ""}.`,
      ),
      ...field("Code from the app or a recovery code", code),
      el("button", { type: "submit", class: "secondary" }, "Remove second factor"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await busy(form, () => this.ctx.api.delete("account/mfa/totp", { code: code.value.trim() }));
      } catch (error) {
        if (error instanceof StepUpRequiredError) return;
        this.ctx.feedback.fail(
          error.status === 400 ? "Wrong code." : error.status === 409 ? "No second factor is set up." : error,
        );
        code.focus();
        return;
      }
      this.ctx.feedback.ok("Second factor removed.");
      this.show({ totp: false, recovery_codes_left: 0 });
    });
    return form;
  }
}

addAccountSection({
  id: "second-factor",
  title: "Second factor",
  order: 30,
  render(section, ctx) {
    new SecondFactorSection(section, ctx).load();
  },
});
