-- reset() and open() for the whole fleet. ARGV[11]: 'closed' or 'open'; ARGV[12]: how long to
-- stay open, microseconds (-1: recovery_timeout). Always starts a new generation (outcomes of calls
-- admitted before are late); reports a transition when the state the next call would have met
-- differs from the new one.
local to = ARGV[11] == 'open' and OPEN or CLOSED
local duration = tonumber(ARGV[12]) or -1
local s = load()
local from = s.st
if from == OPEN and now - s.oa >= open_duration(s) then from = HALF_OPEN end
move(s, to, to == OPEN and 'forced' or 'reset')
if to == OPEN then s.od = duration end
moved[1] = from
if from == to then moved = nil end
save(s)
return reply(s, 1, -1, 0)
