# Run by R CMD check on the installed package (scripts/check_r.sh). The tests need the Python
# engine (RETICULATE_PYTHON, or the r-sigfactor environment of install_sigfactor()); without it
# they skip, except where SIGFACTOR_REQUIRE_ENGINE=true (scripts/test.sh) or CI=true, where
# they fail.
library(testthat)
library(sigfactor)

test_check("sigfactor")
