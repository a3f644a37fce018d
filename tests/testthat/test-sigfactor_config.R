test_that("sigfactor_config reports the Python, versions and devices it finds", {
  skip_if_no_engine()
  config <- sigfactor_config()
  expect_s3_class(config, "sigfactor_config")
  expect_true(config$available)
  expect_true(file.exists(config$python))
  expect_null(config$message)
  engine <- python_engine()
  expect_identical(config$sigfactor, reticulate::py_to_r(engine$`__version__`))
  torch <- reticulate::import("torch", convert = FALSE)
  expect_identical(config$torch, reticulate::py_str(torch$`__version__`))
  expect_true("cpu" %in% names(config$devices))
  expect_true(config$default_device %in% names(config$devices))
  n_gpus <- reticulate::py_to_r(torch$cuda$device_count())
  expect_length(config$devices, 1 + n_gpus)
  printed <- capture.output(print(config))
  expect_match(printed, paste0("sigfactor: ", config$sigfactor), fixed = TRUE, all = FALSE)
  expect_match(printed, config$python, fixed = TRUE, all = FALSE)
})

test_that("a Python without the engine is reported, and calls say how to install it", {
  python <- python_without_engine()
  output <- run_with_python(c(
    "config <- sigfactor_config()",
    "cat('AVAILABLE:', config$available, '\\n')",
    "print(config)",
    "m <- readRDS(system.file('states/mut_mat_data.rds', package = 'MutationalPatterns'))",
    "e <- tryCatch(factorize_signatures(m, rank = 2), error = function(e) e)",
    "cat('ERROR:', conditionMessage(e), '\\n')",
    "cat('CALL:', is.null(conditionCall(e)), '\\n')"
  ), python)
  text <- paste(output, collapse = "\n")
  expect_match(text, "AVAILABLE: FALSE", fixed = TRUE)
  expect_match(text, "engine:     not available", fixed = TRUE)
  expect_match(text, "ERROR: The Python engine 'sigfactor' is not installed in the Python",
               fixed = TRUE)
  expect_match(text, python, fixed = TRUE)
  expect_match(text, "`bash scripts/setup.sh`", fixed = TRUE)
  expect_match(text, "`pip install sigfactor`", fixed = TRUE)
  expect_match(text, "CALL: TRUE", fixed = TRUE)
})

test_that("an engine that is installed but fails to import is told apart, with Python's reason", {
  python <- python_without_engine()
  # A module 'sigfactor' whose import fails, as a broken install would.
  site <- system2(python, c("-c", shQuote("import sysconfig; print(sysconfig.get_paths()['purelib'])")),
                  stdout = TRUE)
  dir.create(file.path(site, "sigfactor"), recursive = TRUE)
  writeLines("raise ImportError('the engine could not load its libraries')",
             file.path(site, "sigfactor", "__init__.py"))
  output <- run_with_python(c(
    "cat('AVAILABLE:', sigfactor_config()$available, '\\n')",
    "e <- tryCatch(read_catalogue('counts.txt'), error = function(e) e)",
    "cat('ERROR:', conditionMessage(e), '\\n')"
  ), python)
  text <- paste(output, collapse = "\n")
  expect_match(text, "AVAILABLE: FALSE", fixed = TRUE)
  expect_match(text, paste0("ERROR: The Python engine 'sigfactor' is installed in ", python,
                            " but could not be imported: the engine could not load its libraries"),
               fixed = TRUE)
})
