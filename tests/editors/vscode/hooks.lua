-- hooks.lua -- the Lua function that extra.qlx calls
function wtr(wt) return wt / 70 end
