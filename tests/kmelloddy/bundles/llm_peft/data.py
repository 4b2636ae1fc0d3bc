from datasets import Dataset
from transformers import AutoTokenizer

from model_manager import download_model


def data_loader(raw_datas, configs):
	frame = raw_datas[configs.data_configs.task_type]
	tokenizer = AutoTokenizer.from_pretrained(download_model(configs.model_configs.pretrained_model_name_or_path))
	texts = [f"{smiles} -> {value}" for smiles, value in zip(frame["smiles_structure_parent"], frame["measurement_value"])]
	tokens = tokenizer(texts, truncation=True, max_length=configs.data_configs.max_length)
	dataset = Dataset.from_dict({"input_ids": tokens["input_ids"], "labels": tokens["input_ids"]})
	split = dataset.train_test_split(test_size=0.2, seed=0)
	return {"train": split["train"], "test": split["test"]}
