// End-to-end test of the Trasealla web app in headless Chromium.
//
// Starts the server (a fresh SQLite database in a temporary directory, a
// platform admin with a random password), then walks the customer journey
// and the admin's: register a company, see the trial banner, create a
// contact and log a call, create a deal and drag it to the next stage, log
// out and in again on the company's sub-domain; as platform admin, suspend
// the company and see its user blocked. With mail (E2E_MAILDIR, the SMTP
// sink's maildir, and TRASEALLA_SMTP_URL, as e2e/run.sh sets them): invite a
// colleague who accepts from the mailed link and lands signed in, then
// resets a forgotten password through the mailed link. Screenshots of the
// main pages go to docs/screenshots/.
//
//   bash e2e/run.sh             (or node e2e/run.mjs after `cargo build`:
//                                without a maildir, the mail steps are skipped)
//
// Environment: TRASEALLA_BIN (default target/debug/trasealla),
// CHROMIUM (default /usr/bin/chromium), E2E_HEADED=1 to watch.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import assert from "node:assert/strict";
import { startFakeStripe } from "./fake-stripe.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = process.env.TRASEALLA_BIN || join(root, "target/debug/trasealla");
const shots = join(root, "docs/screenshots");
mkdirSync(shots, { recursive: true });

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });

// Mail, as the SMTP sink files it: one file per message in <maildir>/new.
const maildir = process.env.E2E_MAILDIR;

/// Header lines (unfolded) and body of one MIME entity.
function splitEntity(raw) {
  const at = raw.search(/\r?\n\r?\n/);
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? "" : raw.slice(at).replace(/^\r?\n\r?\n/, "");
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] ??= line.slice(i + 1).trim();
  }
  return { headers, body };
}

function decodeBody(body, encoding) {
  switch ((encoding || "").toLowerCase()) {
    case "base64":
      return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    case "quoted-printable": {
      const soft = body.replace(/=\r?\n/g, "");
      const bytes = [];
      for (let i = 0; i < soft.length; i++) {
        const hex = soft.slice(i + 1, i + 3);
        if (soft[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) { bytes.push(parseInt(hex, 16)); i += 2; }
        else bytes.push(...Buffer.from(soft[i], "utf8"));
      }
      return Buffer.from(bytes).toString("utf8");
    }
    default:
      return body;
  }
}

/// The text/plain part of a message (the first one, however deep), decoded.
function plainText(raw) {
  const { headers, body } = splitEntity(raw);
  const type = headers["content-type"] || "text/plain";
  const boundary = /boundary="?([^";]+)"?/i.exec(type);
  if (/^multipart\//i.test(type) && boundary) {
    const parts = body.split(`--${boundary[1]}`).slice(1);
    for (const part of parts) {
      if (part.startsWith("--")) break;
      const text = plainText(part.replace(/^\r?\n/, ""));
      if (text !== null) return text;
    }
    return null;
  }
  return /^text\/plain/i.test(type) ? decodeBody(body, headers["content-transfer-encoding"]) : null;
}

/// Waits for the `count`-th message to `to` and returns the text of the last.
async function mailTo(to, count = 1) {
  for (let i = 0; i < 300; i++) {
    const found = [];
    for (const name of readdirSync(join(maildir, "new"))) {
      const raw = readFileSync(join(maildir, "new", name), "utf8");
      const { headers } = splitEntity(raw);
      const rcpt = (headers["x-rcptto"] || "").toLowerCase().split(/,\s*/);
      if (rcpt.includes(to.toLowerCase())) found.push([Number(headers["x-sink-seq"]), raw]);
    }
    if (found.length >= count) {
      found.sort((a, b) => a[0] - b[0]);
      return plainText(found[found.length - 1][1]) ?? "";
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no message ${count} to ${to} within 30 s`);
}

/// The link to `path` in a message's text.
function linkIn(text, path) {
  const m = new RegExp(`https?://[^\\s<>"]*${path.replace("/", "\\/")}\\?token=[^\\s<>"]+`).exec(text);
  assert.ok(m, `no ${path} link in: ${text}`);
  return m[0];
}

const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), "trasealla-e2e-"));
// A vendor signing key, so the admin can issue licences.
await new Promise((resolve, reject) => {
  const keygen = spawn(bin, ["license", "keygen", "--out", join(dir, "keys")], { stdio: "ignore" });
  keygen.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`keygen exited with ${code}`))));
});
const adminPassword = randomBytes(12).toString("hex");
// Billing against a local fake of Stripe (e2e/fake-stripe.mjs).
const stripe = await startFakeStripe(`http://localhost:${port}/api/billing/webhook`);
const server = spawn(bin, ["serve"], {
  env: {
    ...process.env,
    DATABASE_URL: `sqlite://${dir}/e2e.db`,
    TRASEALLA_LISTEN: `127.0.0.1:${port}`,
    TRASEALLA_BASE_DOMAIN: "localhost",
    TRASEALLA_PLATFORM_ADMIN_USERNAME: "ops",
    TRASEALLA_PLATFORM_ADMIN_PASSWORD: adminPassword,
    TRASEALLA_LICENSE_SIGNING_KEY: join(dir, "keys", "license.key"),
    // The master key lives in the run's directory, not the home directory.
    TRASEALLA_MASTER_KEY_FILE: join(dir, "master.key"),
    // Mail: TRASEALLA_SMTP_URL and TRASEALLA_JOB_POLL_MS come from e2e/run.sh.
    ...stripe.env,
    RUST_LOG: "warn",
  },
  stdio: ["ignore", "inherit", "inherit"],
});
let serverExited = false;
server.on("exit", () => (serverExited = true));

const base = `http://localhost:${port}`;
const tenantBase = (slug) => `http://${slug}.localhost:${port}`;

async function waitForServer() {
  for (let i = 0; i < 150; i++) {
    if (serverExited) throw new Error("the server exited before answering");
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) return;
    } catch (_) {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server did not answer /healthz within 15 s");
}

let browser;
const steps = [];
async function step(name, fn) {
  const t = Date.now();
  await fn();
  steps.push(`ok  ${name} (${Date.now() - t} ms)`);
  console.log(`ok  ${name}`);
}

try {
  await waitForServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: !process.env.E2E_HEADED,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  const user = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await user.newPage();
  page.on("pageerror", (e) => { throw new Error(`script error on ${page.url()}: ${e.message}`); });
  const email = "maria@acme-realty.example";
  const password = "Correct-Horse-42";
  const slug = "acme-realty";

  await step("the landing page offers a free trial", async () => {
    await page.goto(base + "/");
    await page.screenshot({ path: join(shots, "landing.png") });
    await page.getByRole("link", { name: "Start Free Trial" }).first().click();
    await page.waitForURL(/\/register$/);
  });

  await step("registration shows the API's validation beside the field", async () => {
    await page.getByLabel("Company name").fill("Acme Realty");
    await page.getByLabel("Your name").fill("Maria Lopez");
    await page.getByLabel("Work e-mail").fill("not-an-email");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Create my account" }).click();
    const error = page.locator("#f-email-error");
    await error.waitFor();
    assert.match(await error.textContent(), /e-mail|email|address/i);
    assert.equal(await page.getByLabel("Company name").inputValue(), "Acme Realty");
  });

  await step("registering signs in on the company's sub-domain with a trial banner", async () => {
    await page.getByLabel("Work e-mail").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByLabel("Your address").fill(slug);
    await page.locator(".availability .ok").waitFor();
    await page.screenshot({ path: join(shots, "register.png") });
    await page.getByRole("button", { name: "Create my account" }).click();
    await page.waitForURL(tenantBase(slug) + "/dashboard");
    const banner = await page.locator(".banner.trial").textContent();
    assert.match(banner, /14 days left in trial/);
    assert.ok(await page.getByRole("link", { name: "Upgrade" }).isVisible());
  });

  await step("create a contact and log a call", async () => {
    await page.getByRole("link", { name: "Contacts" }).click();
    await page.getByRole("link", { name: "New contact" }).click();
    await page.getByLabel("First name").fill("Ada");
    await page.getByLabel("Last name").fill("Lovelace");
    await page.getByLabel("E-mail").fill("ada@engines.example");
    await page.getByLabel("Phone").fill("+44 20 7946 0000");
    await page.getByLabel("Job title").fill("Countess");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: "Ada Lovelace" }).waitFor();
    await page.getByLabel("Subject").fill("Intro call about the flat in Soho");
    await page.getByLabel("Already done").check();
    await page.getByRole("button", { name: "Log activity" }).click();
    await page.locator("ol.timeline li.activity", { hasText: "Intro call" }).waitFor();
    await page.getByLabel("Note").fill("Prefers mornings.");
    await page.getByRole("button", { name: "Add note" }).click();
    await page.locator("ol.timeline li.note", { hasText: "Prefers mornings." }).waitFor();
    await page.screenshot({ path: join(shots, "contact.png"), fullPage: true });
    await page.getByRole("link", { name: "Contacts" }).click();
    await page.getByRole("search").getByRole("searchbox").fill("lovelace");
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("link", { name: "Ada Lovelace" }).waitFor();
    await page.screenshot({ path: join(shots, "contacts.png") });
  });

  await step("import contacts: preview, then write", async () => {
    await page.getByRole("link", { name: "Contacts", exact: true }).click();
    await page.getByRole("link", { name: "Import CSV" }).click();
    const csv = "First Name,Last Name,E-mail,Company,Favourite colour\n" +
      "Grace,Hopper,grace@navy.example,US Navy,blue\n" +
      ",Nameless,nobody@x.example,,red\n" +
      "Alan,Turing,alan@bletchley.example,Bletchley Park,green\n";
    await page.getByLabel("CSV file").setInputFiles({ name: "contacts.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.getByRole("button", { name: "Check the file" }).click();
    await page.getByRole("heading", { name: "Checked: nothing written yet" }).waitFor();
    assert.ok(await page.getByText("Favourite colour").first().isVisible());
    await page.screenshot({ path: join(shots, "import.png"), fullPage: true });
    await page.getByLabel("CSV file").setInputFiles({ name: "contacts.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.getByRole("button", { name: "Import", exact: true }).click();
    await page.getByRole("heading", { name: "Imported" }).waitFor();
    await page.getByRole("link", { name: "See your contacts" }).click();
    await page.getByRole("link", { name: "Grace Hopper" }).waitFor();
  });

  await step("a lead converts into a contact with a deal", async () => {
    await page.getByRole("link", { name: "Leads", exact: true }).click();
    await page.getByRole("link", { name: "New lead" }).click();
    await page.getByLabel("First name").fill("Katherine");
    await page.getByLabel("Last name").fill("Johnson");
    await page.getByLabel("Company").fill("NASA");
    await page.getByLabel("Estimated value").fill("42000");
    await page.getByLabel("Status").selectOption("qualified");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: "Katherine Johnson" }).waitFor();
    await page.screenshot({ path: join(shots, "lead.png") });
    // Conversion asks first, on a page of its own.
    await page.getByRole("link", { name: "Convert…" }).click();
    await page.getByRole("button", { name: "Convert" }).click();
    await page.waitForURL(/\/contacts\/[0-9a-f-]+$/);
    await page.getByRole("heading", { name: "Katherine Johnson" }).waitFor();
  });

  await step("create deals and drag one to the next stage", async () => {
    await page.getByRole("link", { name: "Deals" }).click();
    for (const [title, amount] of [["Soho flat", "850000"], ["Camden loft", "1250000.50"]]) {
      await page.getByRole("link", { name: "New deal" }).click();
      await page.getByLabel("Title").fill(title);
      await page.getByLabel("Amount").fill(amount);
      await page.getByRole("button", { name: "Create deal" }).click();
      // A new deal opens on its own page; back to the board for the next.
      await page.waitForURL(/\/deals\/[0-9a-f-]+$/);
      await page.getByRole("link", { name: "Deals", exact: true }).click();
      await page.waitForURL(/\/deals(\?|$)/);
    }
    const columns = page.locator(".column");
    const first = columns.nth(0);
    const second = columns.nth(1);
    const card = first.locator("li.deal", { hasText: "Soho flat" });
    await card.waitFor();
    const moved = page.waitForResponse((r) => r.url().includes("/move") && r.request().method() === "POST");
    await card.dragTo(second.locator("ol.cards"));
    const response = await moved;
    assert.equal(response.status(), 200, await response.text());
    await second.locator("li.deal", { hasText: "Soho flat" }).waitFor();
    // The stage totals follow the card without a reload.
    assert.match(await second.locator("[data-totals]").textContent(), /850,000\.00 USD/);
    assert.doesNotMatch(await first.locator("[data-totals]").textContent(), /850,000\.00/);
    await page.reload();
    await columns.nth(1).locator("li.deal", { hasText: "Soho flat" }).waitFor();
    assert.equal(await columns.nth(1).locator("[data-count]").textContent(), "1");
    // The keyboard way: the card's Move menu.
    const loft = columns.nth(0).locator("li.deal", { hasText: "Camden loft" });
    await loft.getByRole("combobox").selectOption({ label: "Proposal" });
    await loft.getByRole("button", { name: "Move" }).click();
    await columns.nth(2).locator("li.deal", { hasText: "Camden loft" }).waitFor();
    await page.screenshot({ path: join(shots, "deals.png") });
  });

  await step("the dashboard adds up the pipeline", async () => {
    await page.getByRole("link", { name: "Dashboard" }).click();
    const value = await page.locator(".stat").first().textContent();
    // The two deals made here plus the converted lead's deal (its estimated value).
    assert.match(value, /2,142,000\.50 USD/);
    await page.screenshot({ path: join(shots, "dashboard.png") });
  });

  await step("a task on the calendar, reports and settings", async () => {
    await page.getByRole("link", { name: "Contacts", exact: true }).click();
    await page.getByRole("link", { name: "Ada Lovelace" }).click();
    const today = new Date();
    today.setUTCHours(15, 30, 0, 0);
    await page.getByLabel("Type").selectOption("meeting");
    await page.getByLabel("Subject").fill("Viewing at the Soho flat");
    await page.getByLabel("Due").fill(today.toISOString().slice(0, 16));
    await page.getByRole("button", { name: "Log activity" }).click();
    await page.getByRole("link", { name: "Activities" }).click();
    await page.locator(".calendar .day.today", { hasText: "Viewing at the Soho flat" }).waitFor();
    await page.screenshot({ path: join(shots, "calendar.png") });
    await page.getByRole("link", { name: "Reports" }).click();
    await page.getByRole("heading", { name: "Pipeline: deals per stage" }).waitFor();
    await page.screenshot({ path: join(shots, "reports.png"), fullPage: true });
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByText("of 3 users on your plan").waitFor();
    await page.screenshot({ path: join(shots, "settings-users.png") });
  });

  const colleague = `colleague-${randomBytes(4).toString("hex")}@example.com`;
  const mailSteps = maildir ? step : async (name) => console.log(`skip ${name} (no E2E_MAILDIR: run e2e/run.sh)`);

  await mailSteps("an admin invites a colleague who accepts and lands signed in", async () => {
    // On the users settings page, where the previous step ended.
    await page.getByLabel("Colleague's e-mail").fill(colleague);
    await page.getByLabel("Their role").selectOption("manager");
    await page.getByRole("button", { name: "Send the invitation" }).click();
    await page.getByText("The invitation is on its way.").waitFor();
    await page.locator("table.invitations tr", { hasText: colleague }).getByText("pending").waitFor();
    await page.screenshot({ path: join(shots, "settings-invitations.png"), fullPage: true });
    const link = linkIn(await mailTo(colleague), "/accept-invitation");
    assert.ok(link.startsWith(tenantBase(slug) + "/accept-invitation?token="), link);
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const invited = await fresh.newPage();
    invited.on("pageerror", (e) => { throw new Error(`script error on ${invited.url()}: ${e.message}`); });
    await invited.goto(link);
    await invited.getByLabel("Your name").fill("Carla Colleague");
    await invited.getByLabel("Password").fill("Colleague-Pass-42");
    await invited.screenshot({ path: join(shots, "accept-invitation.png") });
    await invited.getByRole("button", { name: "Join" }).click();
    await invited.waitForURL(tenantBase(slug) + "/dashboard", { timeout: 10000 }).catch(async (e) => {
      throw new Error(`not on the dashboard but ${invited.url()}: ${await invited.locator("main").textContent()}`, { cause: e });
    });
    const who = await invited.locator(".who").textContent();
    assert.match(who, new RegExp(`^${colleague.split("@")[0]} · manager$`));
    assert.equal(await invited.locator(".banner.unconfirmed").count(), 0, "the link confirmed the address");
    await fresh.close();
    await page.reload();
    await page.locator("table.invitations tr", { hasText: colleague }).getByText("accepted").waitFor();
  });

  await mailSteps("a forgotten password is reset through the mailed link", async () => {
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await fresh.newPage();
    await p.goto(tenantBase(slug) + "/login");
    await p.getByRole("link", { name: "Forgot password?" }).click();
    await p.getByLabel("E-mail").fill(colleague);
    await p.getByRole("button", { name: "Send me a link" }).click();
    await p.getByRole("heading", { name: "Check your inbox" }).waitFor();
    // The invitation was the first message; the link is in the second.
    const link = linkIn(await mailTo(colleague, 2), "/reset-password");
    await p.goto(link);
    // "New password" is also the start of "New password, again".
    await p.locator("#f-password").fill("Another-Pass-43");
    await p.getByLabel("New password, again").fill("Another-Pass-43");
    await p.getByRole("button", { name: "Change my password" }).click();
    await p.waitForURL(tenantBase(slug) + "/login");
    await p.getByText("Your password is changed. Sign in with it.").waitFor();
    await p.getByLabel("E-mail or username").fill(colleague);
    await p.getByLabel("Password").fill("Another-Pass-43");
    await p.getByRole("button", { name: "Log in" }).click();
    await p.waitForURL(tenantBase(slug) + "/dashboard");
    await fresh.close();
  });

  await step("log out ends the session; log in again on the sub-domain", async () => {
    const cookies = await user.cookies();
    const session = cookies.find((c) => c.name === "trasealla_session");
    assert.ok(session && session.httpOnly && session.sameSite === "Lax");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(tenantBase(slug) + "/login");
    // The old cookie no longer opens anything: the session ended on the server.
    const thief = await browser.newContext();
    await thief.addCookies([{ name: "trasealla_session", value: session.value, domain: `${slug}.localhost`, path: "/" }]);
    const replay = await thief.newPage();
    await replay.goto(tenantBase(slug) + "/dashboard");
    assert.equal(new URL(replay.url()).pathname, "/login", "a logged-out session's cookie is refused");
    await thief.close();
    await page.getByLabel("E-mail or username").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.screenshot({ path: join(shots, "login.png") });
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL(tenantBase(slug) + "/dashboard");
  });

  await step("the platform admin suspends the company and its user is blocked", async () => {
    const ops = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const admin = await ops.newPage();
    await admin.goto(base + "/admin");
    await admin.waitForURL(/\/admin\/login/);
    await admin.getByLabel("Username").fill("ops");
    await admin.getByLabel("Password").fill(adminPassword);
    await admin.getByRole("button", { name: "Log in" }).click();
    await admin.waitForURL(base + "/admin");
    await admin.getByRole("link", { name: "Acme Realty" }).waitFor();
    await admin.screenshot({ path: join(shots, "admin-tenants.png") });
    await admin.getByRole("link", { name: "Acme Realty" }).click();
    admin.once("dialog", (d) => d.accept());
    await admin.getByRole("button", { name: "Suspend" }).click();
    await admin.locator("h1 .badge", { hasText: "suspended" }).waitFor();
    await admin.screenshot({ path: join(shots, "admin-tenant.png") });

    const r = await page.goto(tenantBase(slug) + "/dashboard");
    assert.equal(r.status(), 403);
    await page.getByRole("heading", { name: "This account is suspended" }).waitFor();
    await page.screenshot({ path: join(shots, "suspended.png") });

    await admin.getByRole("button", { name: "Activate" }).click();
    await admin.locator("h1 .badge", { hasText: "trial" }).waitFor();
    await admin.getByRole("link", { name: "Licences" }).click();
    await admin.getByLabel("Issued to").fill("Acme Realty (on premises)");
    await admin.getByLabel("Users").fill("25");
    await admin.getByRole("button", { name: "Generate" }).click();
    await admin.getByRole("heading", { name: "Licence issued — copy it now" }).waitFor();
    assert.match(await admin.locator("#license-key").textContent(), /^TRAS-ENT-/);
    await admin.screenshot({ path: join(shots, "admin-licences.png") });
    const back = await page.goto(tenantBase(slug) + "/dashboard");
    assert.equal(back.status(), 200);
    await ops.close();
  });

  await step("the trial banner's Upgrade goes through the plan chooser to Checkout and back to the new plan", async () => {
    await page.goto(tenantBase(slug) + "/dashboard");
    await page.locator(".banner.trial").getByRole("link", { name: "Upgrade" }).click();
    await page.waitForURL(tenantBase(slug) + "/upgrade");
    await page.getByRole("heading", { name: "Choose a plan" }).waitFor();
    await page.screenshot({ path: join(shots, "plans.png"), fullPage: true });
    await page.getByRole("button", { name: "Choose Professional, monthly" }).click();
    // Our page hands over to Checkout (here the fake's page).
    await page.waitForURL((u) => u.href.startsWith(`${stripe.base}/pay/`), { timeout: 10000 });
    await page.getByRole("heading", { name: "Pay for professional" }).waitFor();
    await page.getByRole("button", { name: "Pay" }).click();
    // Stripe's webhooks came before the browser is sent back.
    await page.waitForURL((u) => u.href.startsWith(tenantBase(slug) + "/settings/subscription?checkout=success"));
    await page.getByText("Thank you: the payment went through.").waitFor();
    await page.locator("dd[data-plan=professional]").waitFor();
    await page.getByText("visa ending 4242").waitFor();
    await page.getByRole("button", { name: "Manage billing" }).waitFor();
    assert.equal(await page.locator(".banner.trial").count(), 0, "no trial banner once paid");
    await page.screenshot({ path: join(shots, "billing.png"), fullPage: true });
  });

  await step("the board works at phone width", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await user.storageState() });
    const p = await phone.newPage();
    await p.goto(tenantBase(slug) + "/deals");
    await p.locator("li.deal", { hasText: "Soho flat" }).waitFor();
    await p.screenshot({ path: join(shots, "deals-phone.png") });
    await phone.close();
  });

  console.log(`\ne2e: ${steps.length} steps passed`);
} catch (e) {
  console.error("\ne2e FAILED:", e);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  server.kill("SIGTERM");
  await stripe.close();
  await new Promise((r) => (serverExited ? r() : server.on("exit", r)));
  rmSync(dir, { recursive: true, force: true });
}
