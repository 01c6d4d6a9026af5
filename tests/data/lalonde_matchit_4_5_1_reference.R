# Reference values for tests/data/lalonde_matchit_4_5_1_reference.json (run from the repository root:
# Rscript tests/data/lalonde_matchit_4_5_1_reference.R); R 4.2.2, Debian r-cran-matchit 4.5.1.
# Not run by the tests.
suppressMessages(library(MatchIt))
nsw <- read.csv("tests/data/nsw.csv"); cps <- read.csv("tests/data/cps.csv")
d <- rbind(nsw[nsw$treat == 1, ], cps)
d$u74 <- as.integer(d$re74 == 0); d$u75 <- as.integer(d$re75 == 0)
rownames(d) <- NULL
options(digits = 17)
f <- treat ~ age + I(age^2) + educ + I(educ^2) + black + hisp + marr + nodegree + re74 + re75 + u74 + u75
g <- glm(f, data = d, family = binomial)
cat("GLM\n"); print(coef(g)); cat("dev", deviance(g), "iter", g$iter, "\n")
eff <- function(m, est) { md <- match.data(m); fit <- lm(re78 ~ treat, data = md, weights = weights)
  c(coef(fit)[2], n1 = sum(md$treat == 1), n0 = sum(md$treat == 0), sw1 = sum(md$weights[md$treat==1]^2), sw0 = sum(md$weights[md$treat==0]^2)) }
for (est in c("ATT", "ATC", "ATE")) {
  m <- matchit(treat ~ age + educ + black + hisp + marr + nodegree + re74 + re75, data = d, method = "cem", estimand = est,
               cutpoints = list(age = c(20, 25, 30, 35, 40), educ = c(9, 12), re74 = 3, re75 = 4))
  cat("CEM_CUTS", est, eff(m, est), nlevels(m$subclass), "\n")
  m <- matchit(treat ~ age + educ + black + hisp + marr + nodegree + re74 + re75, data = d, method = "cem", estimand = est)
  cat("CEM_STURGES", est, eff(m, est), nlevels(m$subclass), "\n")
}
m <- matchit(treat ~ age + educ + re74 + re75, data = d, distance = "mahalanobis")
cat("MAH_DATA", eff(m, "ATT"), "\n"); cat("MAH_MM", as.integer(m$match.matrix[,1]), "\n")
m <- matchit(f, data = d, estimand = "ATC", replace = TRUE)
cat("NN_ATC_REPL", eff(m, "ATC"), "\n")
m <- matchit(f, data = d, estimand = "ATC", replace = TRUE, ratio = 2)
cat("NN_ATC_REPL2", eff(m, "ATC"), "\n")
cat("LOGIT_SE", sqrt(diag(vcov(g))), "\n")
gp <- glm(f, data = d, family = binomial(link = "probit"))
cat("PROBIT", coef(gp), "\n"); cat("PROBIT_DEV", deviance(gp), gp$iter, "\n")
