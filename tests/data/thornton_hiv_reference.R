# Reference values for tests/test_rct.py (clustered ITT with clusters that are not the unit of
# randomisation).  Run from the repository root: Rscript tests/data/thornton_hiv_reference.R
# R 4.2.2; clubSandwich 0.5.8 (CR2 vcov and Satterthwaite df, working model I = estimatr's CR2 for
# unweighted OLS); sandwich 3.0.2 vcovCL(type = "HC1", cadjust = TRUE) = estimatr se_type "stata"
# (J/(J-1) (n-1)/(n-k) CR0).  Not run by the tests.
suppressMessages({library(clubSandwich); library(sandwich)})
options(digits = 17)
d <- read.csv("tests/data/thornton_hiv.csv")
show <- function(label, fit, data) {
  cr2 <- vcovCR(fit, cluster = data$villnum, type = "CR2")
  ct <- coef_test(fit, vcov = cr2, test = "Satterthwaite")
  cr1 <- vcovCL(fit, cluster = ~villnum, type = "HC1", cadjust = TRUE)
  cat(label, "n", nrow(data), "clusters", length(unique(data$villnum)), "\n")
  cat(label, "coef", coef(fit), "\n")
  cat(label, "CR2_se", sqrt(diag(as.matrix(cr2))), "\n")
  cat(label, "CR2_df", ct$df_Satt, "\n")
  cat(label, "CR1_se", sqrt(diag(cr1)), "\n")
}
a <- d[complete.cases(d[, c("got", "any", "villnum")]), ]
show("unadjusted", lm(got ~ any, data = a), a)
b <- d[complete.cases(d[, c("got", "any", "villnum", "age", "distvct")]), ]
show("ancova", lm(got ~ any + age + distvct, data = b), b)
b$age_c <- b$age - mean(b$age); b$distvct_c <- b$distvct - mean(b$distvct)
show("lin", lm(got ~ any + age_c + distvct_c + any:age_c + any:distvct_c, data = b), b)
