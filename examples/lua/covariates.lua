-- covariates.lua: hooks for fit_lua.qlx.  Each function takes numbers and
-- returns a number; Qlynix calls it once per subject (again only when its
-- arguments change), never inside the ODE solver.

-- body weight relative to a 70 kg adult
function wt_ratio(wt)
  if wt <= 0 then
    error("wt_ratio: body weight must be positive, got " .. wt, 2)
  end
  return wt / 70
end

-- The subject hook of fit_derived.qlx ($LUA ... SUBJECT=derive
-- DERIVED=(WTR, WTCAT)): the subject's covariates in, a table of derived
-- covariates out, once per subject.  WTCAT recodes weight into three
-- bands (1: below 60 kg, 2: 60-90 kg, 3: above 90 kg).
function derive(cov)
  local band = 2
  if cov.WT < 60 then band = 1 elseif cov.WT > 90 then band = 3 end
  return { WTR = wt_ratio(cov.WT), WTCAT = band }
end
