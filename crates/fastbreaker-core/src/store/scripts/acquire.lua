-- May a call run now? Closed or disabled: yes. Isolated: no, until reset(). Open: no, until its
-- open duration has passed since it opened; then the circuit goes half-open and the call is its
-- first trial. Half-open: yes while fewer than half_open_max_calls trials run across the fleet (a
-- trial out for trial_timeout gives its slot up). verdict 1: admitted (trial: its id, or -1 for a
-- call that is no trial); 0: rejected, remaining: how long until a call could be admitted (-1:
-- unknown: a trial must end first, or the circuit is isolated).
local s = load()
if s.st == CLOSED or s.st == DISABLED then
    return reply(s, 1, -1, 0)
end
if s.st == ISOLATED then
    return reply(s, 0, -1, -1) -- until reset()
end
if s.st == OPEN then
    if now - s.oa < open_duration(s) then
        return reply(s, 0, -1, s.oa + open_duration(s) - now)
    end
    move(s, HALF_OPEN, 'recovery_timeout')
end
reclaim_hung(s)
if redis.call('ZCARD', trials_key) >= max_calls then
    local _, left = trials_in_flight(s)
    if moved then save(s) end
    return reply(s, 0, -1, left)
end
s.tid = s.tid + 1
redis.call('ZADD', trials_key, now, s.tid)
save(s)
return reply(s, 1, s.tid, 0)
