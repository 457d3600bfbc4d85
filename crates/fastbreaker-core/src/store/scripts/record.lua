-- How an admitted call ended. ARGV[11]: the generation it was admitted in; ARGV[12]: its trial id
-- (-1: none); ARGV[13]: 'success', 'failure' or 'ignored'. An outcome from an older generation is
-- late and changes nothing.
local gen, trial, outcome = tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13]
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
        if s.fc >= failure_threshold then move(s, OPEN, 'failure_threshold') end
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
        move(s, OPEN, 'trial_failed')
        dirty = true
    elseif freed then
        dirty = true -- a slot came back: the others may try for it
    end
end
if dirty then save(s) end
return reply(s, 1, -1, 0)
