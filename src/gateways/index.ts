/** Every gateway profile by name. */
import { adyen } from "./adyen.js";
import { checkout } from "./checkout.js";
import type { GatewayName } from "./detect.js";
import { generic } from "./generic.js";
import { paypal } from "./paypal.js";
import type { GatewayProfile } from "./profile.js";
import { square } from "./square.js";
import { stripe } from "./stripe.js";

const PROFILES: Readonly<Record<GatewayName, GatewayProfile>> = { stripe, adyen, paypal, square, checkout, generic };

export function profileOf(name: GatewayName): GatewayProfile {
  return PROFILES[name];
}
