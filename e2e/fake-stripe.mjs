// A local stand-in for Stripe in the browser suite: the API calls the
// server makes (customers, Checkout Sessions, Billing Portal sessions) and a
// Checkout page whose "Pay" button does what Stripe does after a payment:
// it sends the signed webhook events (checkout.session.completed, then
// customer.subscription.created) to the server, then sends the browser back
// to the session's success URL. Loopback only.
import { createServer } from "node:http";
import { createHmac, randomBytes } from "node:crypto";

export const SECRET_KEY = `sk_test_e2e_${randomBytes(8).toString("hex")}`;
export const WEBHOOK_SECRET = `whsec_e2e_${randomBytes(16).toString("hex")}`;
export const PRICES = {
  starter_monthly: "price_e2e_starter_m",
  starter_yearly: "price_e2e_starter_y",
  professional_monthly: "price_e2e_pro_m",
  professional_yearly: "price_e2e_pro_y",
  enterprise_monthly: "price_e2e_ent_m",
};

/// Starts the fake; `webhook` is the server's webhook URL.
export async function startFakeStripe(webhook) {
  const sessions = new Map();
  let n = 0;
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
    const url = new URL(req.url, base);
    const json = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const html = (body) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><html lang="en"><head><title>Fake Checkout</title></head><body>${body}</body></html>`);
    };
    if (url.pathname.startsWith("/v1/")) {
      if (req.headers.authorization !== `Bearer ${SECRET_KEY}`) return json(401, { error: { message: "Invalid API Key provided" } });
      if (!req.headers["stripe-version"]) return json(400, { error: { message: "no Stripe-Version" } });
      if (req.method === "POST" && !req.headers["idempotency-key"]) return json(400, { error: { message: "no Idempotency-Key" } });
    }
    n += 1;
    if (req.method === "POST" && url.pathname === "/v1/customers") {
      return json(200, { id: `cus_e2e${n}`, object: "customer", email: params.email });
    }
    if (req.method === "POST" && url.pathname === "/v1/checkout/sessions") {
      const id = `cs_test_e2e${n}`;
      sessions.set(id, { id, params });
      return json(200, { id, object: "checkout.session", url: `${base}/pay/${id}` });
    }
    if (req.method === "POST" && url.pathname === "/v1/billing_portal/sessions") {
      return json(200, { id: `bps_${n}`, object: "billing_portal.session", url: `${base}/portal/${n}` });
    }
    const pay = /^\/pay\/(cs_test_e2e\d+)$/.exec(url.pathname);
    if (pay && sessions.has(pay[1])) {
      const s = sessions.get(pay[1]);
      if (req.method === "GET") {
        return html(`<main><h1>Pay for ${s.params["metadata[plan]"]}</h1>
          <form method="post"><button type="submit">Pay</button></form></main>`);
      }
      const p = s.params;
      const tenant = p["metadata[tenant_id]"];
      const sub = `sub_e2e${n}`;
      const now = Math.floor(Date.now() / 1000);
      await send({
        id: `evt_cs_${s.id}`, type: "checkout.session.completed", created: now,
        data: { object: { id: s.id, object: "checkout.session", mode: "subscription", customer: p.customer,
          subscription: sub, client_reference_id: p.client_reference_id, payment_status: "paid", status: "complete",
          metadata: { tenant_id: tenant, plan: p["metadata[plan]"], interval: p["metadata[interval]"] } } },
      });
      await send({
        id: `evt_sub_${sub}`, type: "customer.subscription.created", created: now,
        data: { object: { id: sub, object: "subscription", customer: p.customer, status: "active",
          cancel_at_period_end: false, metadata: { tenant_id: tenant },
          default_payment_method: { id: `pm_e2e${n}`, object: "payment_method", card: { brand: "visa", last4: "4242" } },
          items: { object: "list", data: [{ id: `si_${sub}`, current_period_end: now + 30 * 86400,
            price: { id: p["line_items[0][price]"], recurring: { interval: "month" } } }] } } },
      });
      res.writeHead(303, { location: p.success_url.replace("{CHECKOUT_SESSION_ID}", s.id) });
      return res.end();
    }
    json(404, { error: { message: `Unrecognized request URL (${req.method}: ${url.pathname})` } });
  });
  /// Signs and posts an event to the server's webhook, as Stripe does.
  async function send(event) {
    const body = JSON.stringify({ object: "event", livemode: false, ...event });
    const t = Math.floor(Date.now() / 1000);
    const v1 = createHmac("sha256", WEBHOOK_SECRET).update(`${t}.${body}`).digest("hex");
    const r = await fetch(webhook, {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": `t=${t},v1=${v1}` },
      body,
    });
    if (!r.ok) throw new Error(`the webhook answered ${r.status}: ${await r.text()}`);
  }
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    env: {
      TRASEALLA_STRIPE_SECRET_KEY: SECRET_KEY,
      TRASEALLA_STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      TRASEALLA_STRIPE_API_BASE: base,
      TRASEALLA_STRIPE_PRICES: Object.entries(PRICES).map(([k, v]) => `${k}=${v}`).join(","),
    },
    close: () => new Promise((r) => server.close(r)),
  };
}
