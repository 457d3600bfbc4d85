-- Shared by every fastbreaker script (prepended to each one). One script runs atomically on the
-- server: every decision below is one step, on the server's clock, never a client's
-- read-then-write.
--
-- KEYS[1]  the breaker's hash: {namespace:name}
-- KEYS[2]  its half-open trials, a sorted set of trial id -> start time: {namespace:name}:trials
-- ARGV[1]  the pub/sub channel of the namespace
-- ARGV[2]  the breaker's name
-- ARGV[3]  seconds to keep the keys after a write (refreshed on every write)
-- ARGV[4]  an incarnation id, stored when the hash is created (tells a rebuilt state from an old one)
-- ARGV[5]  who runs the script (a process's id, carried in the messages it causes)
-- ARGV[6]  recovery_timeout, microseconds
-- ARGV[7]  trial_timeout, microseconds (0: trials may run for ever)
-- ARGV[8]  half_open_max_calls
-- ARGV[9]  failure_threshold
-- ARGV[10] success_threshold
-- ARGV[11] recovery_backoff (>= 1: each failed trial multiplies the next opening by it)
-- ARGV[12] max_recovery_timeout, microseconds (-1: no limit)
-- ARGV[13] recovery_jitter, in [0, 1)
-- ARGV[14] a random number in [0, 1) drawn by the client for this script (the jitter's draw: the
--          scripts' own math.random is seeded the same for every script)
-- ARGV[15..] what the operation needs
local key, trials_key = KEYS[1], KEYS[2]
local channel, name, ttl, new_inc, origin = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local recovery, trial_timeout = tonumber(ARGV[6]), tonumber(ARGV[7])
local max_calls, failure_threshold, success_threshold =
    tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local backoff, max_recovery = tonumber(ARGV[11]), tonumber(ARGV[12])
local jitter, draw = tonumber(ARGV[13]), tonumber(ARGV[14])

-- ISOLATED: open until reset(), whatever the timeout; DISABLED: every call passes, nothing counts,
-- until reset(). Both are set by hand (manual.lua) and left only by hand.
local CLOSED, OPEN, HALF_OPEN, ISOLATED, DISABLED = 0, 1, 2, 3, 4
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local function load()
    local v = redis.call('HMGET', key, 'inc', 'seq', 'gen', 'st', 'fc', 'sc', 'lf', 'oa', 'tid', 'od',
        'ft')
    return {
        inc = v[1] or '', seq = tonumber(v[2]) or 0, gen = tonumber(v[3]) or 0,
        st = tonumber(v[4]) or CLOSED, fc = tonumber(v[5]) or 0, sc = tonumber(v[6]) or 0,
        lf = tonumber(v[7]) or -1, oa = tonumber(v[8]) or 0, tid = tonumber(v[9]) or 0,
        od = tonumber(v[10]) or -1, ft = tonumber(v[11]) or 0,
    }
end

-- How long the current opening lasts: its own duration (open(duration), open_for), or
-- recovery_timeout (od = -1).
local function open_duration(s)
    if s.od >= 0 then return s.od end
    return recovery
end

-- How long the next opening lasts, as the in-memory breaker's backoff says (policy/backoff.rs):
-- recovery_timeout times recovery_backoff for each trial failed since the circuit last closed
-- (ft), up to max_recovery_timeout, spread by up to recovery_jitter of itself. -1 (the plain
-- recovery_timeout, as the hash has always said) when neither is set.
-- Capped, as the in-memory breaker's are, below 2^64 - 1 ns (which means "until reset()"): a
-- longer one would not fit the integer replies, nor the keys' EXPIRE. A double holds this one
-- exactly (a multiple of 4 past 2^54), and times 1000 it is below 2^64 - 1.
local LONGEST = 18446744073709548
local function next_duration(s)
    if backoff == 1 and jitter == 0 then return -1 end
    local d = recovery
    if backoff > 1 and s.ft > 0 then d = math.floor(recovery * backoff ^ s.ft) end
    if max_recovery >= 0 and d > max_recovery then d = max_recovery end
    if jitter > 0 then d = math.floor(d * (1 + jitter * (2 * draw - 1))) end
    return math.min(d, LONGEST)
end

-- The transition this script made, if any: from, to, reason, failures and successes before it.
local moved = nil

local function move(s, to, reason)
    moved = { s.st, to, reason, s.fc, s.sc }
    s.st = to
    s.gen = s.gen + 1
    redis.call('DEL', trials_key)
    if to == OPEN then
        s.oa = now
        s.od = next_duration(s)
        s.sc = 0
    elseif to == HALF_OPEN or to == ISOLATED then
        s.sc = 0
    else -- CLOSED, DISABLED
        s.fc = 0
        s.sc = 0
        s.ft = 0
    end
end

local function open_remaining(s)
    if s.st ~= OPEN then return 0 end
    local left = s.oa + open_duration(s) - now
    if left < 0 then return 0 end
    return left
end

local function reclaim_hung(s)
    if s.st == HALF_OPEN and trial_timeout > 0 then
        redis.call('ZREMRANGEBYSCORE', trials_key, '-inf', '(' .. string.format('%.0f', now - trial_timeout + 1))
    end
end

-- Trials running and not yet hung, and how long until the oldest one is (-1: never).
local function trials_in_flight(s)
    if s.st ~= HALF_OPEN then return 0, -1 end
    local oldest = redis.call('ZRANGE', trials_key, 0, 0, 'WITHSCORES')
    local count = redis.call('ZCARD', trials_key)
    if trial_timeout > 0 then
        count = redis.call('ZCOUNT', trials_key, '(' .. string.format('%.0f', now - trial_timeout), '+inf')
        if oldest[2] then
            local left = tonumber(oldest[2]) + trial_timeout - now
            if left < 0 then left = 0 end
            return count, left
        end
    end
    return count, -1
end

local function f(x) return string.format('%.0f', x) end

-- Writes the state back, refreshes the TTLs and tells every process.
local function save(s)
    if s.inc == '' then s.inc = new_inc end
    s.seq = s.seq + 1
    redis.call('HSET', key, 'inc', s.inc, 'seq', s.seq, 'gen', s.gen, 'st', s.st, 'fc', s.fc,
        'sc', s.sc, 'lf', s.lf, 'oa', s.oa, 'tid', s.tid, 'od', s.od, 'ft', s.ft)
    if s.st == ISOLATED or s.st == DISABLED then
        -- Held until reset(), however long nobody writes: an abandoned breaker's keys expire,
        -- a held one's must not (it would come back closed). No trials: the move deleted them.
        redis.call('PERSIST', key)
    else
        -- Kept at least as long as an opening of its own duration still needs them.
        local keep = math.max(ttl, math.ceil(open_remaining(s) / 1000000) + 60)
        redis.call('EXPIRE', key, keep)
        if redis.call('EXISTS', trials_key) == 1 then redis.call('EXPIRE', trials_key, keep) end
    end
    local m = moved or { -1, -1, '-', 0, 0 }
    -- origin inc seq gen st fc sc lf remaining moved(from to reason fb sb) time name
    redis.call('PUBLISH', channel, table.concat({
        origin, s.inc, f(s.seq), f(s.gen), f(s.st), f(s.fc), f(s.sc), f(s.lf),
        f(open_remaining(s)), f(m[1]), f(m[2]), m[3], f(m[4]), f(m[5]), f(now), name }, ' '))
end

-- The reply every script gives: the state after it, then what the operation decided.
local function reply(s, verdict, trial, remaining)
    local in_flight, _ = trials_in_flight(s)
    local m = moved or { -1, -1, '-', 0, 0 }
    return { s.inc, s.seq, s.gen, s.st, s.fc, s.sc, s.lf, open_remaining(s), in_flight,
             verdict, trial, remaining, m[1], m[2], m[3], m[4], m[5], now, open_duration(s) }
end
