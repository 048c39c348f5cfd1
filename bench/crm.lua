-- wrk script of bench/crm.sh: every request as a random tenant.
--
-- Environment:
--   BENCH_LUA_MODE   list50 | page | get | create | search
--   BENCH_LUA_FILE   lines "token value": value is a contact id (get), a
--                    cursor (page; "-" for the first page) or ignored
--   BENCH_LUA_LIMIT  page size of mode page (default 10)
--   BENCH_LUA_TERMS  space-separated search words (mode search)

local mode = os.getenv("BENCH_LUA_MODE") or "list50"
local file = os.getenv("BENCH_LUA_FILE")
local limit = os.getenv("BENCH_LUA_LIMIT") or "10"
local terms_env = os.getenv("BENCH_LUA_TERMS") or "smith"

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("thread_id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local tokens, values, terms = {}, {}, {}
local counter = 0

function init(args)
   math.randomseed(os.time() * 1000 + (thread_id or 0))
   local f = assert(io.open(file, "r"), "cannot open BENCH_LUA_FILE " .. tostring(file))
   for line in f:lines() do
      local token, value = line:match("^(%S+)%s+(%S+)")
      if token then
         tokens[#tokens + 1] = "Bearer " .. token
         values[#values + 1] = value
      end
   end
   f:close()
   assert(#tokens > 0, "no tokens in " .. file)
   for w in terms_env:gmatch("%S+") do terms[#terms + 1] = w end
   run_tag = string.format("%d%03d", os.time(), thread_id or 0)
end

function request()
   local i = math.random(#tokens)
   local headers = { ["Authorization"] = tokens[i] }
   if mode == "list50" then
      return wrk.format("GET", "/api/contacts?limit=50", headers)
   elseif mode == "page" then
      local v = values[i]
      if v == "-" then
         return wrk.format("GET", "/api/contacts?limit=" .. limit, headers)
      end
      return wrk.format("GET", "/api/contacts?limit=" .. limit .. "&cursor=" .. v, headers)
   elseif mode == "get" then
      return wrk.format("GET", "/api/contacts/" .. values[i], headers)
   elseif mode == "search" then
      return wrk.format("GET", "/api/search?q=" .. terms[math.random(#terms)], headers)
   elseif mode == "create" then
      counter = counter + 1
      headers["Content-Type"] = "application/json"
      local body = string.format(
         '{"first_name":"Load","last_name":"Test %d","email":"load-%s-%d@bench.example"}',
         counter, run_tag, counter)
      return wrk.format("POST", "/api/contacts", headers, body)
   end
   error("unknown BENCH_LUA_MODE " .. mode)
end
