-- renal.lua: the hooks of titration.qlx.
local clin = stdlib("clinical")

-- POPULATION LUA=sample: a population with renal impairment, drawn
-- together so that the covariates keep their relations: weight given
-- sex, and serum creatinine rising with age.  Every draw comes from rng,
-- the virtual subject's own stream of the model's SEED.
function sample(cov, rng)
  local female = rng:bernoulli(0.5)
  local age = rng:uniform(20, 85)
  return {
    SEX = female == 1 and 2 or 1,
    AGE = age,
    WT  = rng:lognormal(female == 1 and 65 or 80, 0.18),
    SCR = rng:lognormal(0.8 + 0.012 * (age - 20), 0.25),   -- mg/dL
  }
end

-- $LUA ... SUBJECT=derive DERIVED=(CRCL): creatinine clearance (mL/min),
-- once per subject, for the data's subjects and the virtual ones alike.
function derive(cov)
  local female = cov.SEX == 2 and 1 or 0
  return { CRCL = clin.crcl_cockcroft_gault(cov.AGE, cov.WT, cov.SCR, female) }
end

-- REGIMEN ... RULE=titrate EVERY=7: before each week's first dose, the
-- measured trough (Y, with its residual error) decides the week's dose:
-- halve it above 4 mg/L, raise it by half below 1 mg/L (to 1,200 mg at
-- most), else keep it.
function titrate(s, rng)
  if s.n == 1 then
    return s.start   -- nothing measured yet
  elseif s.Y > 4 then
    return s.dose / 2
  elseif s.Y < 1 then
    return math.min(1.5 * s.dose, 1200)
  end
  return s.dose
end
