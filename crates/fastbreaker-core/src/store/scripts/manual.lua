-- reset() and open() for the whole fleet. ARGV[15]: 'closed' or 'open'; ARGV[16]: how long to
-- stay open, microseconds (-1: the next duration the backoff gives, recovery_timeout without one). Always starts a new generation (outcomes of calls
-- admitted before are late); reports a transition when the state the next call would have met
-- differs from the new one.
local to = ARGV[15] == 'open' and OPEN or CLOSED
local duration = tonumber(ARGV[16]) or -1
local s = load()
local from = s.st
if from == OPEN and now - s.oa >= open_duration(s) then from = HALF_OPEN end
move(s, to, to == OPEN and 'forced' or 'reset')
if to == OPEN and duration >= 0 then s.od = duration end
moved[1] = from
if from == to then moved = nil end
save(s)
return reply(s, 1, -1, 0)
