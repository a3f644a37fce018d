# Run by R CMD check on the installed package. The tests need the Python engine: set
# RETICULATE_PYTHON to a Python where `import sigfactor` works (they skip without it, except
# on CI, where CI=true makes them fail instead).
library(testthat)
library(sigfactor)

test_check("sigfactor")
