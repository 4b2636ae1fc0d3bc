"""The web UI's words for the platform's errors, the bundle's problems and the jobs' state reasons.

Every message is keyed by the code the platform gives it (``FddError.code``, ``Problem.code``,
``JobEvent.code``), with the values it names as parameters. The CLI keeps its own English
messages; these speak of the web UI's buttons and fields, never of command-line flags.
"""

from __future__ import annotations

from collections.abc import Mapping

from nvflare_fdd.web.i18n import translate

# code -> (Korean, English); {name} is a parameter
MESSAGES: dict[str, tuple[str, str]] = {
    # -- bundle problems ----------------------------------------------------------------------
    "bundle.rejected": ("번들 검증에 실패했습니다 ({count}건). 각 파일의 문제를 확인하세요",
                        "The bundle failed validation ({count} problems); see each file's problems"),
    "bundle.subfolder": (
        "하위 폴더는 사용할 수 없습니다. 플랫폼은 번들을 하나의 평평한 폴더로 실행하므로 하위 폴더 안의 파일을 "
        "import 하거나 찾을 수 없습니다 (예: {example} 는 실패합니다). 필요한 파일을 최상위로 옮기고 이름이 겹치지 않게 하세요",
        "Sub-folders are not allowed: the platform runs the bundle as one flat folder and cannot import or find files "
        "inside one (e.g. {example} fails). Move the files you need to the top level, with unique names",
    ),
    "bundle.symlink": ("심볼릭 링크입니다. 파일의 복사본으로 바꾸세요", "is a symbolic link: replace it with a copy of the file"),
    "bundle.not_regular": ("일반 파일이 아닙니다. 제거하세요", "is not a regular file: remove it"),
    "bundle.name_control": ("파일 이름에 제어 문자가 있습니다. 이름을 바꾸세요", "The name contains control characters: rename the file"),
    "bundle.name_separator": ("파일 이름에 경로 구분자(/ 또는 \\)가 있습니다. 이름을 바꾸세요",
                              "The name contains a path separator: rename the file without / or \\"),
    "bundle.name_dash": ("파일 이름이 '-' 로 시작합니다. 이름을 바꾸세요", "The name starts with '-': rename the file"),
    "bundle.hidden": ("숨김 파일은 허용되지 않습니다. 제거하세요", "Hidden files are not allowed: remove it"),
    "bundle.weights_too_large": (
        "가중치 파일의 합계가 {total} ({listing}) 로 1 GB 제한을 넘습니다. 학습할 가중치만 저장하거나 반정밀도로 줄이세요",
        "Weight files total {total} ({listing}), over the 1 GB limit: save only trainable weights, or use half precision",
    ),
    "bundle.type_not_allowed.no_suffix": ("확장자가 없는 파일은 허용되지 않습니다. 허용된 확장자를 붙이거나 제거하세요",
                                          "Files without a suffix are not allowed: add an allowed suffix or remove it"),
    "bundle.type_not_allowed.bin": ("{suffix} 파일은 허용되지 않습니다. 가중치는 .safetensors 또는 .pt 로 저장하세요",
                                    "{suffix} files are not allowed: save the weights as .safetensors or .pt"),
    "bundle.type_not_allowed.data": (
        "{suffix} 파일은 허용되지 않습니다. 학습 데이터는 번들이 아니라 각 기관의 KDA 에서 옵니다. 제거하세요",
        "{suffix} files are not allowed: training data comes from each site's KDA, never from the bundle; remove it",
    ),
    "bundle.type_not_allowed.ipynb": ("노트북(.ipynb)은 허용되지 않습니다. .py 파일로 내보내세요",
                                      "Notebooks (.ipynb) are not allowed: export the notebook as a .py file"),
    "bundle.type_not_allowed.pyc": ("컴파일된 파일(.pyc)은 허용되지 않습니다. .py 소스면 충분합니다",
                                    "Compiled files (.pyc) are not allowed: the .py source is enough"),
    "bundle.type_not_allowed.sh": ("셸 스크립트는 실행되지 않습니다. 필요한 패키지는 requirements.txt 에 적으세요",
                                   "Shell scripts are never run: list packages in requirements.txt"),
    "bundle.type_not_allowed.whl": ("wheel 파일은 올릴 수 없습니다. requirements.txt 에 URL 로 적으세요 (pkg @ https://...)",
                                    "Wheels cannot be uploaded: reference the wheel by URL in requirements.txt (pkg @ https://...)"),
    "bundle.type_not_allowed.zip": ("번들 안의 압축 파일은 허용되지 않습니다. 파일 자체를 올리세요",
                                    "An archive inside the bundle is not allowed: upload the files themselves"),
    "bundle.type_not_allowed.other": (
        "{suffix} 파일은 허용되지 않습니다. 가중치(.safetensors .ckpt .pt .pth)와 기타 파일(.py .txt .json .yaml .yml)만 허용됩니다",
        "{suffix} files are not allowed: weights (.safetensors .ckpt .pt .pth) and other files (.py .txt .json .yaml .yml) only",
    ),
    "bundle.missing": ("필수 파일이 없습니다 (필수: {required}). {file} 을(를) 추가하세요",
                       "Required file is missing (a bundle needs {required}): add {file}"),
    "bundle.missing_lookalike": ("필수 파일이 없습니다. {lookalike} 이(가) 비슷해 보입니다. 이름을 {file} 로 바꾸세요",
                                 "Required file is missing; {lookalike} looks like it: rename it to {file}"),
    "bundle.config_lookalike": ("정확히 {config} 라는 이름의 파일만 설정으로 읽습니다. 이름을 {config} 로 바꾸세요",
                                "Only a file named exactly {config} is read as the config: rename it to {config}"),
    "bundle.shadowing": ("{file} 은(는) Python, 플랫폼 또는 코드가 필요로 하는 '{module}' 모듈을 가립니다. 이름을 바꾸세요 (예: my_{file})",
                         "{file} hides the '{module}' module that Python, the platform or your imports need: rename it (e.g. my_{file})"),
    "bundle.zip_unreadable": ("읽을 수 없는 zip 파일입니다. zip 을 다시 만드세요", "Not a readable zip archive: create the zip again"),
    "bundle.zip_absolute": ("zip 안에 절대 경로가 있습니다. 파일 이름만으로 압축하세요",
                            "Absolute path in the archive: zip the bundle's files by their bare names"),
    "bundle.zip_dotdot": ("경로가 번들 폴더 밖을 가리킵니다 ('..'). 파일 이름만으로 압축하세요",
                          "The path leaves the bundle folder ('..'): zip the files by their bare names"),
    "bundle.zip_symlink": ("심볼릭 링크입니다. 파일의 복사본을 압축하세요", "Is a symbolic link: zip a copy of the file instead"),
    "bundle.zip_encrypted": ("암호화되어 있습니다. 암호 없이 zip 을 만드세요", "Is encrypted: create the zip without a password"),
    "bundle.zip_too_large": ("zip 의 압축 해제 크기({declared})가 번들 한도(가중치 1 GB + {margin})를 넘습니다. 큰 파일을 제거하세요",
                             "The archive declares {declared} of files, more than a bundle holds (1 GB of weights plus {margin})"),
    "bundle.zip_overflow": ("zip 이 선언한 것보다 많은 데이터를 담고 있습니다 (손상되었거나 조작됨). zip 을 다시 만드세요",
                            "Holds more data than the archive declares (corrupt or crafted): create the zip again"),
    "bundle.zip_extract_failed": ("압축을 풀 수 없습니다. 표준(deflate) 압축으로 zip 을 다시 만드세요",
                                  "Cannot be extracted: create the zip again with standard (deflate) compression"),
    "bundle.zip_duplicate": ("zip 에 같은 이름이 여러 번 있습니다. 하나만 남기세요", "The archive holds this name more than once: keep one copy"),
    "bundle.zip_case_collision": ("{other} 와(과) 대소문자만 다릅니다. 하나의 이름을 바꾸거나 제거하세요",
                                  "Differs from {other} only in letter case: rename or remove one"),
    "bundle.not_utf8": ("UTF-8 텍스트가 아닙니다 ({byte} 번째 바이트). UTF-8 로 저장하세요", "Is not UTF-8 text (byte {byte}): save it as UTF-8"),
    "bundle.syntax_error": ("문법 오류가 있습니다 ({detail}). Python 이 import 할 수 있도록 고치세요",
                            "Syntax error ({detail}): fix it so Python can import the file"),
    "bundle.not_python_source": ("Python 소스로 읽을 수 없습니다. UTF-8 텍스트로 저장하세요", "Cannot be read as Python source: save it as UTF-8 text"),
    "bundle.entry_missing": ("최상위 함수 {function} 이(가) 없습니다. 플랫폼은 {call} 을(를) 호출합니다. 추가하세요",
                             "Defines no top-level function {function}: the platform calls {call}; add it"),
    "bundle.entry_async": ("{function} 이(가) 'async def' 입니다. 플랫폼은 {call} 을(를) await 없이 호출하므로 일반 def 로 바꾸세요",
                           "{function} is 'async def': the platform calls {call} without await; make it a plain def"),
    "bundle.entry_keyword_only": ("{function} 에 기본값 없는 키워드 전용 매개변수({names})가 있습니다. 기본값을 주세요",
                                  "{function} has required keyword-only parameters ({names}): give them defaults"),
    "bundle.entry_arity": ("{function} 의 매개변수가 맞지 않습니다. 플랫폼은 {call} 로 호출합니다. 매개변수를 ({parameters}) 로 바꾸세요",
                           "{function} does not take the arguments the platform passes: {call}; change them to ({parameters})"),
    "bundle.relative_import": ("상대 import ({module}) 는 실패합니다. 번들 파일은 패키지가 아닌 최상위 모듈로 import 됩니다. 'from {target} import ...' 로 쓰세요",
                               "Relative import from {module} fails: bundle files are top-level modules; write 'from {target} import ...'"),
    "bundle.class_name_invalid": ("'{class_name}' 은(는) Python 클래스 이름이 아닙니다. model.py 의 클래스 이름으로 등록하세요",
                                  "'{class_name}' is not a Python class name: register the model with its class name in model.py"),
    "bundle.class_missing": ("model.py 에 최상위 클래스 {class_name} 이(가) 없습니다 (torch 모듈 클래스: {classes}). 추가하거나 올바른 클래스 이름으로 등록하세요",
                             "model.py defines no top-level class {class_name} (torch module classes: {classes})"),
    "bundle.class_missing_none": ("model.py 에 클래스 {class_name} 이(가) 없고 torch.nn.Module 클래스도 없습니다",
                                  "model.py defines no class {class_name}, and no torch.nn.Module class at all"),
    "bundle.class_not_module": ("{class_name} 이(가) torch.nn.Module 클래스로 이어지지 않습니다. model.py 에 class {class_name}(nn.Module) 을 정의하세요",
                                "{class_name} does not lead to a torch.nn.Module class: define class {class_name}(nn.Module) in model.py"),
    "bundle.class_not_nn_module": ("class {class_name}({bases}) 가 torch.nn.Module 을 상속하지 않습니다. nn.Module 을 상속하세요",
                                   "class {class_name}({bases}) does not derive from torch.nn.Module: derive it from nn.Module"),
    "bundle.platform_unknown_name": ("{module} 에 '{name}' 이(가) 없습니다. 제공되는 이름: {known}",
                                     "{module} has no '{name}': it offers {known}"),
    "bundle.platform_unknown_name_close": ("{module} 에 '{name}' 이(가) 없습니다. {close} 을(를) 뜻했나요? 제공되는 이름: {known}",
                                           "{module} has no '{name}': did you mean {close}? It offers {known}"),
    "bundle.cuda_pinned": ("데이터를 {device} 로 옮깁니다. GPU 가 없는 기관에서는 실패합니다. model_manager.DEVICE 를 쓰세요",
                           "Moves data to {device}; on a site without a GPU this fails: use model_manager.DEVICE"),
    "bundle.config_yaml": ("올바른 YAML 이 아닙니다 ({reason}). 고치세요", "Is not valid YAML ({reason}): fix it"),
    "bundle.config_empty": ("비어 있습니다. 제거하거나 코드가 읽는 키를 추가하세요", "Is empty: remove it, or add the keys your code reads"),
    "bundle.config_not_mapping": ("최상위가 'key: value' 형식이어야 합니다. 값을 키 아래에 두세요",
                                  "The top level must be a mapping of 'key: value' lines: put the values under keys"),
    "bundle.config_omegaconf": ("OmegaConf 가 읽을 수 없습니다 ({reason}). 고치세요", "OmegaConf cannot load it ({reason}): fix it"),
    "bundle.config_interpolation": ("${{...}} 참조가 없는 키를 가리킵니다 ({reason}). 참조를 고치거나 키를 추가하세요",
                                    "An interpolation points to a missing key ({reason}): fix the ${{...}} reference or add the key"),
    "bundle.req_shell": ("셸 명령은 실행되지 않습니다. 패키지를 NAME==VERSION 으로 적으세요",
                         "Shell commands are not run: write the package as NAME==VERSION"),
    "bundle.req_option_after": ("요구사항 뒤의 옵션 {option} 은(는) 지원되지 않습니다. 제거하세요",
                                "Option {option} after a requirement is not supported: remove it"),
    "bundle.req_editable": ("편집 가능 설치(-e)는 기관에서 쓸 수 없습니다. 패키지를 배포하고 NAME==VERSION 으로 적으세요",
                            "Editable installs (-e) cannot work at the sites: publish the package and write NAME==VERSION"),
    "bundle.req_include": ("{option} 로 다른 파일을 포함할 수 없습니다. 그 내용을 requirements.txt 에 복사하세요",
                           "{option} includes another file, which the sites do not have: copy its lines into requirements.txt"),
    "bundle.req_needs_value": ("{option} 에 값이 필요합니다. 값을 추가하거나 줄을 지우세요", "{option} needs a value: add it or remove the line"),
    "bundle.req_needs_url": ("{option} 에 URL 이 필요합니다. URL 을 추가하거나 줄을 지우세요", "{option} needs a URL: add it or remove the line"),
    "bundle.req_local": ("{text} 은(는) 로컬 파일을 가리키는데 기관에는 그 파일이 없습니다. 패키지를 배포하고 NAME==VERSION 또는 NAME @ https://... 로 적으세요",
                         "{text} points to a local file the sites do not have: publish it and write NAME==VERSION or NAME @ https://..."),
    "bundle.req_not_http": ("{option} 에는 http(s) URL 이 필요합니다 ('{value}' 가 아님). https:// 전체 주소를 쓰세요",
                            "{option} needs an http(s) URL, not '{value}': write the full https:// address"),
    "bundle.req_option_unsupported": ("옵션 {option} 은(는) 번들의 requirements.txt 에서 지원되지 않습니다. 제거하세요",
                                      "Option {option} is not supported in a bundle's requirements.txt: remove it"),
    "bundle.req_unreadable": ("'{text}' 을(를) 요구사항으로 읽을 수 없습니다. NAME==VERSION 또는 NAME @ https://URL 로 쓰세요",
                              "Cannot read '{text}' as a requirement: write NAME==VERSION or NAME @ https://URL"),
    "bundle.req_ssh": ("{url} 은(는) 기관에 없는 SSH 키가 필요합니다. 저장소의 https:// 주소를 쓰세요",
                       "{url} needs SSH keys the sites do not have: use the repository's https:// address"),
    "bundle.req_index": ("패키지 인덱스 {url} 을(를) 지정합니다. 기관은 허용 목록의 인덱스에서만 설치하므로 기관 운영자에게 허용을 요청하거나 PyPI 패키지를 쓰세요",
                         "Names the package index {url}: sites install only from indexes they allow; ask them, or use PyPI packages"),
    "upload.path_unsafe": ("안전하지 않은 경로입니다. 번들 폴더 안의 파일만 올리세요", "Unsafe path: upload only files inside the bundle folder"),
    "upload.twice": ("같은 파일을 두 번 올렸습니다. 번들에는 파일이 하나씩만 있습니다", "Uploaded twice; a bundle has each file once"),
    "upload.no_files": ("학습할 파일을 올리세요 (model.py, data.py, train_eval.py, requirements.txt …)",
                        "Upload the bundle's files (model.py, data.py, train_eval.py, requirements.txt …)"),
    "upload.too_large": ("업로드가 너무 큽니다", "The upload is too large"),
    # -- platform errors ----------------------------------------------------------------------
    "job.not_found": ("작업 '{name}' 을(를) 찾을 수 없습니다 (삭제되었거나 볼 권한이 없습니다)", "No job named '{name}' (deleted, or not yours to see)"),
    "job.name_invalid": ("작업명에는 영문, 숫자, 언더바(_)만 쓸 수 있습니다 (한글, 공백, 특수문자 불가)",
                         "A job name may use only English letters, digits and _ (no spaces, Korean or symbols)"),
    "job.name_taken": ("이미 존재하는 작업명입니다: {name} (대소문자만 다른 이름도 같은 이름입니다)",
                       "A job named {name} exists (names that differ only in letter case count as one)"),
    "job.rounds_invalid": ("Round 횟수는 1 이상의 정수여야 합니다", "Rounds must be a whole number of at least 1"),
    "job.no_sites": ("기관을 하나 이상 선택하세요 (기관 목록에서 선택하거나 저장된 선택그룹을 고르세요)",
                     "Choose at least one site (tick sites in the list, or pick a saved group)"),
    "job.min_sites_invalid": ("최소 기관 수는 0(전체)과 선택한 기관 수({sites}) 사이여야 합니다",
                              "The minimum number of sites must be between 0 (all) and the sites chosen ({sites})"),
    "job.algorithm_invalid": ("알 수 없는 집계 알고리즘입니다: {algorithm} (가능: {choices})", "Unknown algorithm {algorithm} (choose {choices})"),
    "job.fedprox_mu_invalid": ("FedProx μ 는 0 이상의 숫자여야 합니다", "FedProx μ must be a number of at least 0"),
    "job.start_state": ("작업 {name} 은(는) 현재 '{state}' 상태입니다. 시작 대기 상태의 작업만 시작할 수 있습니다",
                        "Job {name} is {state}; only a ready job can be started"),
    "job.stop_state": ("작업 {name} 은(는) 현재 '{state}' 상태입니다. 대기 중이거나 진행 중인 작업만 중지할 수 있습니다",
                       "Job {name} is {state}; only a queued or running job can be stopped"),
    "job.resume_state": ("작업 {name} 은(는) 현재 '{state}' 상태입니다. 실패하거나 취소된 작업만 이어서 학습할 수 있습니다",
                         "Job {name} is {state}; only a failed or cancelled job can be resumed"),
    "job.not_resumable": ("작업 {name} 은(는) 이어서 학습할 수 없습니다 (플랫폼 밖에서 제출된 작업입니다)",
                          "Job {name} cannot be resumed (it was submitted outside the platform)"),
    "job.all_rounds_done": ("작업 {name} 은(는) 이미 {rounds} Round 를 모두 마쳤습니다", "Job {name} already finished all {rounds} rounds"),
    "job.queue_full": ("이미 대기열에 작업이 {queued}개 있습니다 (최대 {limit}개). 그 중 하나가 시작되거나 중지된 뒤 다시 시작하세요",
                       "You already have {queued} jobs waiting (at most {limit}); start this one when one of them runs, or stop one"),
    "job.transition_invalid": ("작업 {name} 은(는) 현재 '{state}' 상태라서 '{to_state}' 상태가 될 수 없습니다 (화면이 오래되었을 수 있습니다)",
                               "Job {name} is {state}; it cannot become {to_state} (the page may be out of date)"),
    "job.delete_active": ("작업 {name} 은(는) 현재 '{state}' 상태입니다. 먼저 학습을 중지한 뒤 삭제하세요",
                          "Job {name} is {state}: stop it before deleting it"),
    "job.no_artefact": ("작업 {name} 에는 아직 {file} 이(가) 없습니다", "Job {name} has no {file} (yet)"),
    "job.model_format": ("모델 파일은 .pt 또는 .safetensors 여야 합니다", "The model file must be .pt or .safetensors"),
    "job.not_owner": ("작업 {name} 은(는) {owner} 의 것입니다. 소유자 또는 관리자만 변경할 수 있습니다",
                      "Job {name} belongs to {owner}; only its owner or an admin can change it"),
    "model.not_found": ("모델 {model} 을(를) 찾을 수 없습니다", "No model {model}"),
    "model.exists": ("모델 {model} 이(가) 이미 있습니다 (대소문자만 다른 이름도 같은 이름입니다). 다른 버전으로 등록하세요",
                     "Model {model} already exists (names that differ only in letter case count as one): use another version"),
    "model.in_use_delete": ("모델 {model} 은(는) 대기 중이거나 진행 중인 작업({jobs})이 사용 중이라 삭제할 수 없습니다. 작업을 중지하거나 끝날 때까지 기다리세요",
                            "Model {model} is used by queued or running jobs ({jobs}): stop them or wait until they end"),
    "model.in_use_replace": ("모델 {model} 은(는) 대기 중이거나 진행 중인 작업({jobs})이 사용 중이라 파일을 바꿀 수 없습니다",
                             "Model {model} is used by queued or running jobs ({jobs}): its files cannot be replaced now"),
    "model.used_by_jobs": ("모델 {model} 은(는) 작업 {jobs} 이(가) 사용하고 있어 삭제할 수 없습니다 (작업의 모델 표시와 이어서 학습에 필요). 먼저 그 작업들을 삭제하세요",
                           "Model {model} is used by jobs {jobs} (they show it and resume from it): delete those jobs first"),
    "model.label_invalid": ("모델을 선택하세요", "Choose a model"),
    "model.version_invalid": ("버전에는 영문, 숫자, '.', '-', '_' 만 쓸 수 있습니다", "A version may use letters, digits, '.', '-' and '_'"),
    "model.metric_names_invalid": ("추가 metric 이름이 올바르지 않습니다. 영문 소문자, 숫자, 밑줄로 된 이름을 쓰세요",
                                   "The extra metric names are not valid: use lower-case letters, digits and _"),
    "model.not_owner": ("모델 {name} 은(는) {owner} 의 것입니다. 소유자 또는 관리자만 변경할 수 있습니다",
                        "Model {name} belongs to {owner}; only its owner or an admin can change it"),
    "pretrained.not_owner": ("사전학습 모델 {name} 은(는) {owner} 의 것입니다. 소유자 또는 관리자만 삭제할 수 있습니다",
                             "Pretrained model {name} belongs to {owner}; only its owner or an admin can remove it"),
    "group.not_found": ("선택그룹 '{name}' 이(가) 없습니다", "You have no site group named '{name}'"),
    "group.name_required": ("선택그룹 이름을 입력하세요 (북마크 제목)", "Type a name for the site group"),
    "group.no_sites": ("선택그룹에 넣을 기관을 하나 이상 선택하세요", "Tick at least one site for the group"),
    "site.unknown": ("알 수 없는 기관: {sites} (가능: {available})", "Unknown sites: {sites} (available: {available})"),
    "user.not_found": ("사용자 '{name}' 이(가) 없습니다", "No user named '{name}'"),
    "user.exists": ("사용자 '{name}' 이(가) 이미 있습니다", "A user named '{name}' already exists"),
    "field.too_long": ("{field} 은(는) 최대 {limit}자입니다 (입력: {length}자). 줄여 주세요",
                       "{field} may be at most {limit} characters long (got {length}): shorten it"),
    "platform.unknown_setting": ("플랫폼 설정 {path} 에 알 수 없는 항목 '{key}' 이(가) 있습니다. 관리자에게 문의하세요",
                                 "The platform's settings {path} have an unknown key '{key}'; ask an admin"),
    "platform.no_storage_backend": ("플랫폼 저장소를 열 수 없습니다. 관리자에게 문의하세요", "The platform's storage cannot be opened; ask an admin"),
    "data.refresh_unsupported": ("이 플랫폼에서는 화면에서 데이터 정보를 새로 고칠 수 없습니다. 각 기관에서 통계를 다시 집계하세요",
                                 "This platform cannot refresh data information from here; each site recomputes its statistics"),
    "data.refresh_running": ("데이터 정보를 이미 새로 고치는 중입니다", "Data information is already being refreshed"),
    "admin.required": ("관리자만 할 수 있습니다", "Only an admin can do this"),
    "password.wrong": ("현재 비밀번호가 올바르지 않습니다", "The current password is wrong"),
    "password.short": ("새 비밀번호는 {min}자 이상이어야 합니다", "The new password must have at least {min} characters"),
    "password.mismatch": ("새 비밀번호 확인이 일치하지 않습니다", "The new passwords do not match"),
    "signin.throttled": ("로그인 실패가 너무 많습니다. {seconds}초 후에 다시 시도하세요",
                         "Too many failed sign-ins: try again in {seconds} seconds"),
    "error.generic": ("요청을 처리할 수 없습니다", "The request could not be carried out"),
    # -- state reasons (the job's history) ----------------------------------------------------
    "event.created": ("작업 생성", "created"),
    "event.start_requested": ("{user} 이(가) 학습 시작을 요청함", "start requested by {user}"),
    "event.started": ("학습 시작 ({runner} 실행기)", "started on the {runner} runner"),
    "event.stopped": ("{user} 이(가) 학습을 중지함", "stopped by {user}"),
    "event.resumed": ("{user} 이(가) Round {round} 이후부터 이어서 학습", "resumed by {user} after round {round}"),
    "event.restarted": ("{user} 이(가) 처음부터 다시 시작 (완료된 Round 없음)", "restarted by {user} (no round had finished)"),
    "event.run_completed": ("모든 Round 완료", "all rounds finished"),
    "event.run_failed": ("학습 실패 (실패 정보 참고)", "the run failed (see the failure)"),
    "event.run_cancelled": ("실행기가 학습을 취소함", "the runner cancelled the run"),
    "event.runner_unreachable": ("실행기에서 작업 상태를 알 수 없어 중단됨. NVFlare 가 복구되면 이어서 학습하세요",
                                 "interrupted: the runner could not tell how the job was doing; resume it when NVFlare is back"),
    "event.interrupted_before_submit": ("플랫폼이 작업 제출 전에 멈춰 중단됨. 이어서 학습하세요",
                                        "interrupted: the platform stopped before submitting the job; resume it"),
    "event.could_not_start": ("작업을 시작할 수 없음", "could not start"),
    "event.external_started": ("플랫폼 밖에서 제출된 NVFlare 작업 {id} 시작", "NVFlare job {id} started outside the platform"),
}

FIELD_KEYS = {"job_name": "jobs.name", "class_name": "models.class", "version": "models.version", "group_name": "jobs.group_name",
              "description": "common.description"}  # fmt: skip
"""Parameters named ``field`` are shown as the form's own label."""
STATE_PARAMS = ("state", "to_state")
"""Parameters that name a job state are shown as the state's label."""


class _Params(dict):
    """Format values that leave an unknown ``{name}`` visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def message(code: str | None, params: Mapping | None, language: str, fallback: str = "") -> str:
    """The message ``code`` in ``language``, its parameters filled in; ``fallback`` (or a generic message) for an
    unknown code."""
    pair = MESSAGES.get(code or "")
    if pair is None:
        return fallback or translate_generic(language)
    values = _Params(params or {})
    for key in STATE_PARAMS:
        if key in values:
            values[key] = translate(f"state.{values[key]}_name", language)
    if "field" in values and values["field"] in FIELD_KEYS:
        values["field"] = translate(FIELD_KEYS[values["field"]], language)
    template = pair[0] if language == "ko" else pair[1]
    return template.format_map(values)


def translate_generic(language: str) -> str:
    return message("error.generic", {}, language, fallback="?")


def error_message(error: Exception, language: str) -> str:
    """A platform error in the UI's words; an error without a code yet keeps its own message, which names the
    problem (better than a generic one; ``test_live_and_integrity`` keeps the platform's and the bundle's coded)."""
    code = getattr(error, "code", None)
    if code in MESSAGES:
        return message(code, getattr(error, "params", {}), language)
    return str(error) or translate_generic(language)


def problem_dict(problem, language: str) -> dict:
    """A bundle problem for the page: its file, line and message in the UI's words."""
    code = getattr(problem, "code", None)
    text = message(code, getattr(problem, "params", {}), language) if code in MESSAGES else (
        problem.message if language != "ko" else translate_generic(language))  # fmt: skip
    return {"file": problem.file, "line": problem.line, "code": code, "message": text}


def event_reason(event, language: str) -> str:
    """A state change's reason in the UI's words (records from before reasons had codes: as stored)."""
    if event.code in MESSAGES:
        return message(event.code, event.params, language)
    return event.reason
