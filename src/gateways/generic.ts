/**
 * Any gateway payguard has no profile for: the config's own defaults, and answers that are
 * pure RFC 9457 problem documents (https://www.rfc-editor.org/rfc/rfc9457), which
 * status-keyed SDKs (modern-treasury and other Stainless-generated clients) raise as their
 * own errors with the whole document readable (`err.error.code`).
 */
import type { GatewayProfile } from "./profile.js";

export const generic: GatewayProfile = {
  name: "generic",
  defaults: {},
  envelope: () => ({ members: {}, headers: {} }),
};
