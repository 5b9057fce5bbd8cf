// Calls that need no session (asking for a reset link, resetting a password):
// no Authorization header, no refresh, and errors in the server's own words.

import { ApiError } from "./api.js";
import { session } from "./session.js";

export async function publicPost(path, json) {
  let response;
  try {
    response = await fetch(session.api.url(path), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(json),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, "Cannot reach the server. Check the connection.", { cause: String(error) });
  }
  if (!response.ok) throw await ApiError.fromResponse(response);
  return response.status === 204 ? null : response.json();
}
