-- The state as it is, changing nothing.
return reply(load(), 1, -1, 0)
