-- reset(), open(), isolate() and disable() for the whole fleet. ARGV[15]: 'closed', 'open',
-- 'isolated' or 'disabled'; ARGV[16]: for 'open', how long to stay open, microseconds (-1: the
-- next duration the backoff gives, recovery_timeout without one). Always starts a new generation
-- (outcomes of calls admitted before are late); reports a transition when the state the next
-- call would have met differs from the new one.
local targets = {
    closed = { CLOSED, 'reset' }, open = { OPEN, 'forced' },
    isolated = { ISOLATED, 'isolated' }, disabled = { DISABLED, 'disabled' },
}
local target = targets[ARGV[15]]
if not target then return redis.error_reply('unknown state ' .. tostring(ARGV[15])) end
local to, reason = target[1], target[2]
local duration = tonumber(ARGV[16]) or -1
local s = load()
local from = s.st
if from == OPEN and now - s.oa >= open_duration(s) then from = HALF_OPEN end
move(s, to, reason)
if to == OPEN and duration >= 0 then s.od = duration end
moved[1] = from
if from == to then moved = nil end
save(s)
return reply(s, 1, -1, 0)
