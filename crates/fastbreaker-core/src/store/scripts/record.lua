-- How an admitted call ended. ARGV[15]: the generation it was admitted in; ARGV[16]: its trial id
-- (-1: none); ARGV[17]: 'success', 'failure' or 'ignored'; ARGV[18]: for a failure, how long the
-- circuit must stay open, microseconds, whatever the count (-1: as the count and the backoff say).
-- An outcome from an older generation is late and changes nothing.
local gen, trial, outcome = tonumber(ARGV[15]), tonumber(ARGV[16]), ARGV[17]
local open_for = tonumber(ARGV[18]) or -1
local s = load()
if gen ~= s.gen then
    return reply(s, 1, -1, 0)
end
local freed = false
if trial >= 0 then
    freed = redis.call('ZREM', trials_key, trial) == 1
end
local dirty = false
if s.st == CLOSED then
    if outcome == 'success' and s.fc > 0 then
        s.fc = 0
        dirty = true
    elseif outcome == 'failure' then
        s.fc = s.fc + 1
        s.lf = now
        if open_for >= 0 then
            move(s, OPEN, 'open_for')
            s.od = open_for
        elseif s.fc >= failure_threshold then
            move(s, OPEN, 'failure_threshold')
        end
        dirty = true
    end
elseif s.st == HALF_OPEN then
    if outcome == 'success' then
        s.sc = s.sc + 1
        if s.sc >= success_threshold then move(s, CLOSED, 'trial_succeeded') end
        dirty = true
    elseif outcome == 'failure' then
        s.fc = s.fc + 1
        s.lf = now
        s.ft = s.ft + 1 -- the backoff's exponent (an open_for opening counts as a failed trial too)
        if open_for >= 0 then
            move(s, OPEN, 'open_for')
            s.od = open_for
        else
            move(s, OPEN, 'trial_failed')
        end
        dirty = true
    elseif freed then
        dirty = true -- a slot came back: the others may try for it
    end
end
if dirty then save(s) end
return reply(s, 1, -1, 0)
