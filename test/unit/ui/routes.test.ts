/**
 * The operator page's guard chain and route table in-process: which guard answers which request (the Host before
 * anything, the assets before a session, the origin before the login form, the session before the CSRF token), and
 * how the table finds a route.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import type { Store } from "../../../src/store/types.ts";
import { ASSETS } from "../../../src/ui/assets.ts";
import { findRoute, get, type Route } from "../../../src/ui/http.ts";
import { adminHandler, adminRequest } from "../../helpers/admin.ts";

const TOKEN = "a-token-of-sixteen-or-more";
const store = { listEvents: async () => [], getEvent: async () => null } as unknown as Store;
const handle = adminHandler(store, { token: TOKEN });
const client = { address: "127.0.0.1" };
const send = (path: string, init: RequestInit = {}) => handle(adminRequest(path, init), client);

let cookie = "";
let csrf = "";
beforeAll(async () => {
  const login = await send("/login", { method: "POST", body: new URLSearchParams({ token: TOKEN }) });
  cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  csrf = /name="csrf" value="([^"]+)"/.exec(await (await send("/", { headers: { cookie } })).text())?.[1] ?? "";
});

const crossSite = { "sec-fetch-site": "cross-site" };
describe("the guard chain answers in order", () => {
  // Who sends it: nobody logged in, a session, or a session whose form carries its CSRF token.
  test.each([
    ["a foreign Host, even for the stylesheet", "GET", ASSETS.style.path, { host: "evil.example" }, "nobody", 421],
    ["the stylesheet, without a session", "GET", ASSETS.style.path, {}, "nobody", 200],
    ["robots.txt, without a session", "GET", "/robots.txt", {}, "nobody", 200],
    ["a login form from another site", "POST", "/login", crossSite, "nobody", 403],
    ["an unknown page without a session: to the login page", "GET", "/nowhere", {}, "nobody", 303],
    ["the live stream without a session", "GET", "/live", {}, "nobody", 401],
    ["a form from another site, with a session", "POST", "/logout", crossSite, "csrf", 403],
    ["a form without the CSRF token", "POST", "/logout", {}, "session", 403],
    ["an unknown page with a session", "GET", "/nowhere", {}, "session", 404],
    ["an unknown form with a session and its CSRF token", "POST", "/nowhere", {}, "csrf", 404],
    ["another method with a session", "PUT", "/", {}, "session", 405],
    ["a logout with the CSRF token", "POST", "/logout", {}, "csrf", 303],
  ])("%s → %p", async (_, method, path, headers, who, status) => {
    const body = method === "POST" ? new URLSearchParams(who === "csrf" ? { csrf } : {}) : undefined;
    const response = await send(path, {
      method,
      headers: { ...headers, ...(who !== "nobody" ? { cookie } : {}) },
      body,
    });
    expect(response.status).toBe(status);
  });
});

describe("the route table", () => {
  const ok = () => new Response("ok");
  const routes: Route[] = [get("/", ok), get(/^\/events\/([^/]+)(\/raw)?$/, ok)];

  test("an exact path, or a pattern whose groups become the params", () => {
    expect(findRoute(routes, "GET", "/")?.params).toEqual([]);
    expect(findRoute(routes, "GET", "/events/evt_1/raw")?.params).toEqual(["evt_1", "/raw"]);
    expect(findRoute(routes, "GET", "/events/evt_1")?.params).toEqual(["evt_1", undefined] as unknown as string[]);
  });

  test("no route for another method or path", () => {
    expect(findRoute(routes, "POST", "/")).toBeUndefined();
    expect(findRoute(routes, "GET", "/events/evt_1/replay")).toBeUndefined();
  });
});
