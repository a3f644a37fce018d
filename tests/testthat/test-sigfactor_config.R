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

test_that("the engine version this package needs is the engine's own version", {
  skip_if_no_engine()
  config <- sigfactor_config()
  # Catches a DESCRIPTION (Config/sigfactor/engine) left behind when the engine's version moves.
  expect_identical(config$engine_required, config$sigfactor)
  expect_identical(config$python_source,
                   if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) "RETICULATE_PYTHON" else
                     config$python_source)
  expect_true(config$python_source %in% c("RETICULATE_PYTHON", "r-sigfactor", "reticulate"))
})

test_that("an engine of another version is refused, saying how to fix it", {
  python <- python_without_engine()
  site <- system2(python, c("-c", shQuote("import sysconfig; print(sysconfig.get_paths()['purelib'])")),
                  stdout = TRUE)
  dir.create(file.path(site, "sigfactor"), recursive = TRUE)
  writeLines("__version__ = '0.0.1'", file.path(site, "sigfactor", "__init__.py"))
  output <- run_with_python(c(
    "config <- sigfactor_config()",
    "cat('AVAILABLE:', config$available, '\\n')",
    "cat('READY:', sigfactor_available(), '\\n')",
    "e <- tryCatch(cosmic_signatures(), error = function(e) e)",
    "cat('ERROR:', conditionMessage(e), '\\n')"
  ), python)
  text <- paste(output, collapse = "\n")
  expect_match(text, "AVAILABLE: FALSE", fixed = TRUE)
  expect_match(text, "READY: FALSE", fixed = TRUE)
  expect_match(text, paste0("ERROR: The Python engine in ", python, " is sigfactor 0.0.1, but this R ",
                            "package (sigfactor ", utils::packageVersion("sigfactor"),
                            ") needs the engine version ", sigfactor_config()$engine_required), fixed = TRUE)
  expect_match(text, "`sigfactor::install_sigfactor()`", fixed = TRUE)
})

test_that("install_sigfactor() makes an environment with the engine that library(sigfactor) then uses", {
  skip_if_no_engine()
  # A wheel of this source tree, built offline with the engine's Python (setuptools is there),
  # installed without dependencies, since tests never reach a package index.
  root <- source_tree()
  skip_if(is.null(root), "the sigfactor source tree is not at hand (an installed package's check)")
  engine_python <- reticulate::py_config()$python
  wheels <- tempfile("wheels-")
  system2(engine_python, c("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", shQuote(wheels), shQuote(root)), stdout = TRUE, stderr = TRUE)
  wheel <- list.files(wheels, pattern = "\\.whl$", full.names = TRUE)
  expect_length(wheel, 1)
  workon <- tempfile("workon-")
  dir.create(workon)
  installed <- run_with_python(c(
    sprintf("python <- install_sigfactor(%s, pip_options = c('--no-deps', '--no-index'))",
            deparse(wheel)),
    "cat('PYTHON:', python, '\\n')"
  ), NULL, env = c(WORKON_HOME = workon))
  python <- file.path(normalizePath(workon), "r-sigfactor", "bin", "python")
  expect_true(file.exists(python))
  expect_match(paste(installed, collapse = "\n"), paste("PYTHON:", python), fixed = TRUE)
  # The engine is installed there, at this version (read from its metadata, not imported).
  version <- system2(python, c("-c", shQuote(
    "from importlib.metadata import version; print(version('sigfactor'))")), stdout = TRUE)
  expect_identical(version, sigfactor_config()$engine_required)
  # Test scaffolding only: the dependencies left out above are lent by the engine's own
  # environment through a .pth file (appended to sys.path, after the new environment's own
  # packages, so sigfactor itself still comes from the new environment).
  site <- function(py) system2(py, c("-c", shQuote(
    "import sysconfig; print(sysconfig.get_paths()['purelib'])")), stdout = TRUE)
  writeLines(site(engine_python), file.path(site(python), "engine-dependencies.pth"))
  # A new R session, as install_sigfactor() asks for, without RETICULATE_PYTHON.
  output <- run_with_python(c(
    "config <- sigfactor_config()",
    "cat('USES:', config$python, '\\n')",
    "cat('SOURCE:', config$python_source, '\\n')",
    "cat('AVAILABLE:', config$available, '\\n')",
    "cat('ENGINE FROM:', reticulate::import('sigfactor')$`__file__`, '\\n')"
  ), NULL, env = c(WORKON_HOME = workon))
  text <- paste(output, collapse = "\n")
  expect_match(text, paste("USES:", python), fixed = TRUE)
  expect_match(text, "SOURCE: r-sigfactor", fixed = TRUE)
  expect_match(text, "AVAILABLE: TRUE", fixed = TRUE)
  expect_match(text, paste0("ENGINE FROM: ", site(python), "/sigfactor/__init__.py"), fixed = TRUE)
})

test_that("install_sigfactor() refuses bad arguments before doing anything", {
  expect_error(install_sigfactor(source = file.path(tempdir(), "nowhere")),
               "does not exist; expected a sigfactor source tree or wheel.", fixed = TRUE)
  expect_error(install_sigfactor(source = tempdir()),
               "is a folder without pyproject.toml; expected the sigfactor source tree.", fixed = TRUE)
  expect_error(install_sigfactor(envname = NA), "envname = NA is not valid", fixed = TRUE)
  expect_error(install_sigfactor(python = "/no/such/python"),
               "python = \"/no/such/python\" is not valid; expected the path of a Python interpreter.",
               fixed = TRUE)
})

test_that("a missing engine fails the tests where it is required, and skips them elsewhere", {
  python <- python_without_engine()
  test_file <- tempfile("test-needs-engine-", fileext = ".R")
  writeLines(c(
    sprintf("source(%s)", deparse(normalizePath(testthat::test_path("helper-engine.R")))),
    "test_that('needs the engine', { skip_if_no_engine(); expect_true(TRUE) })"
  ), test_file)
  run <- function(required) {
    output <- run_with_python(c(
      sprintf("r <- as.data.frame(testthat::test_file(%s, reporter = 'silent'))", deparse(test_file)),
      "cat('FAILED:', sum(r$failed) + sum(r$error), 'SKIPPED:', sum(r$skipped), '\\n')"
    ), python, env = c(SIGFACTOR_REQUIRE_ENGINE = required, CI = "false"))
    paste(output, collapse = "\n")
  }
  # scripts/test.sh sets SIGFACTOR_REQUIRE_ENGINE=true: a missing engine is a failure there.
  expect_match(run("true"), "FAILED: 1 SKIPPED: 0", fixed = TRUE)
  expect_match(run(""), "FAILED: 0 SKIPPED: 1", fixed = TRUE)
})
